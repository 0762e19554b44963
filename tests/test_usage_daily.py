"""Reports read whole past days from the daily sums, and the figures stay the log's."""

from __future__ import annotations

import random
from datetime import UTC, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from aiconfig import selectors
from aiconfig.models import CallLog, UsageDaily, UsageDailyDone
from aiconfig.selectors.usage import _usage_summary_from_log
from aiconfig.services.calls import log_insert
from aiconfig.services.rollup import rebuild_rollup
from aiconfig.services.usage_daily import sum_days_for_report


def _log(count: int, *, days_ago: float, seed: int) -> list[CallLog]:
    rng = random.Random(seed)
    now = timezone.now()
    return [
        CallLog(
            created_at=now - timedelta(days=days_ago, minutes=rng.randint(0, 60 * 30)),
            task=rng.choice(["text", "agent"]),
            operation="text",
            provider="openai",
            model=rng.choice(["gpt-4.1", "gpt-4o-mini"]),
            attempt=1,
            outcome=rng.choice(["success", "success", "error"]),
            latency_ms=rng.lognormvariate(6, 1),
            input_tokens=rng.randint(1, 900),
            output_tokens=rng.randint(1, 300),
            cost_usd=Decimal(rng.randint(1, 10**6)) / 10**8,
            source="code",
        )
        for _ in range(count)
    ]


def _hourly_only(**kwargs: object) -> list[selectors.UsageRow]:
    """The same summary with the daily sums out of the way."""
    saved = list(UsageDailyDone.objects.values_list("day", flat=True))
    UsageDailyDone.objects.all().delete()
    try:
        return selectors.usage_summary(**kwargs)  # type: ignore[arg-type]
    finally:
        UsageDailyDone.objects.bulk_create(UsageDailyDone(day=d) for d in saved)


def _counts(rows: list[selectors.UsageRow]) -> list[tuple[object, ...]]:
    return [(r.task, r.provider, r.model, r.calls, r.errors, r.cost_usd) for r in rows]


@pytest.mark.django_db
def test_whole_past_days_are_read_from_the_daily_sums_with_the_same_figures() -> None:
    for days_ago in range(1, 9):
        CallLog.objects.bulk_create(_log(40, days_ago=days_ago, seed=days_ago))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=10)
    assert sum_days_for_report(since=since) >= 6  # days settled two days ago and more
    assert UsageDaily.objects.exists()
    assert sum_days_for_report(since=since) == 0  # once
    report = selectors.usage_summary(since=since)
    assert report == _hourly_only(since=since)  # percentiles too: the same histogram
    assert _counts(report) == _counts(_usage_summary_from_log(since=since))
    task = selectors.usage_summary(since=since, task="agent")
    assert task == _hourly_only(since=since, task="agent")


@pytest.mark.django_db
def test_a_late_row_for_a_summed_day_and_a_rebuild_drop_that_days_sums() -> None:
    CallLog.objects.bulk_create(_log(60, days_ago=5, seed=1))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=8)
    sum_days_for_report(since=since)
    summed_days = set(UsageDailyDone.objects.values_list("day", flat=True))
    # A row kept in a backlog for days, written through the log at last.
    [late] = _log(1, days_ago=5, seed=9)
    log_insert.insert_call_log([late], using=connection)
    late_day = late.created_at.astimezone(UTC).date()
    assert late_day in summed_days
    assert not UsageDailyDone.objects.filter(day=late_day).exists()
    report = selectors.usage_summary(since=since)
    assert sum(r.calls for r in report) == CallLog.objects.count() == 61
    assert _counts(report) == _counts(_usage_summary_from_log(since=since))
    sum_days_for_report(since=since)  # summed again, with the late row
    assert selectors.usage_summary(since=since) == report
    rebuild_rollup(since=since)
    assert not UsageDaily.objects.exists()
    assert _counts(selectors.usage_summary(since=since)) == _counts(report)


@pytest.mark.django_db
def test_a_day_whose_log_has_rows_the_rollup_lacks_is_not_summed() -> None:
    CallLog.objects.bulk_create(_log(30, days_ago=4, seed=2))
    rebuild_rollup()
    extra = CallLog.objects.bulk_create(_log(5, days_ago=4, seed=3))  # around the services
    since = timezone.now() - timedelta(days=6)
    sum_days_for_report(since=since)
    lagging = {r.created_at.astimezone(UTC).date() for r in extra}
    assert not UsageDailyDone.objects.filter(day__in=lagging).exists()
    # ...so the report notices the lag and reads the log: never silently short.
    assert sum(r.calls for r in selectors.usage_summary(since=since)) == 35


@pytest.mark.django_db
def test_the_usage_pages_groups_by_day_and_model_are_the_same_from_the_daily_sums() -> None:
    from aiconfig.selectors.usage_report import grouped_usage, usage_window

    for days_ago in range(1, 9):
        CallLog.objects.bulk_create(_log(30, days_ago=days_ago, seed=days_ago))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=10)
    window = usage_window(since=since, until=timezone.now(), task=None)

    def groups() -> dict[object, tuple[list[int] | None, int, int]]:
        return {
            key: (f.buckets, f.attempts, f.cost_e8)
            for by in (("day", "provider", "model"), ("day", "task"), ("task",), ())
            for key, f in grouped_usage(window, by=by, latency=True).items()
        }

    hourly = groups()
    assert sum_days_for_report(since=since) >= 6
    assert groups() == hourly
