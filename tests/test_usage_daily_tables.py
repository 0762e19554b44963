"""Every table of daily sums equals the call log, recomputed, and the page reads them alike.

`UsageDaily`, `UsageDailyRoute`, `UsageDailyByModel` and `UsageDailyCaller` each sum
the call log per UTC day and their own key. Here each is compared with the call log
summed in Python (`aiconfig.services.rollup.summed`, independent of the SQL that
fills them): after the first report sums them, after a late row and after a rebuild.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import fields
from datetime import UTC, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from aiconfig import selectors
from aiconfig.latency import BUCKET_COLUMNS
from aiconfig.models import (
    CallLog,
    UsageDaily,
    UsageDailyByModel,
    UsageDailyCaller,
    UsageDailyDone,
    UsageDailyRoute,
)
from aiconfig.selectors.rollup_sums import occupied_span
from aiconfig.selectors.usage_report import SUM_FIELDS, Figures, grouped_usage, usage_window
from aiconfig.services.calls import log_insert
from aiconfig.services.rollup import KEY_FIELDS, rebuild_rollup, summed
from aiconfig.services.rollup import SUM_FIELDS as ROLLUP_SUMS
from aiconfig.services.usage_daily import sum_days_for_report

TABLES = {
    UsageDaily: ("task", "provider", "model", "outcome"),
    UsageDailyRoute: ("task", "provider", "model"),
    UsageDailyByModel: ("provider", "model"),
    UsageDailyCaller: ("task", "source", "user_id", "api_token"),
}


def _calls(count: int, *, days_ago: float, seed: int, users: list[Any]) -> list[CallLog]:
    """Calls of many kinds: retries and fallbacks (two rows), failures, unpriced,
    cached, from every source, with and without a user or an API token."""
    rng = random.Random(seed)
    now = timezone.now()
    rows = []
    for _ in range(count):
        when = now - timedelta(days=days_ago, minutes=rng.randint(0, 60 * 20))
        common = {
            "request_id": uuid.uuid4(),
            "task": rng.choice(["text", "agent", "image"]),
            "operation": "text",
            "source": rng.choice(["code", "ui", "api", "cli", "playground"]),
            "user": rng.choice([None, *users]),
            "api_token": rng.choice(["", "", "reporting-app"]),
        }
        attempts = rng.choice([1, 1, 1, 2])
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            outcome = rng.choice(["success", "success", "error", "timed_out", "cancelled"])
            if not last:
                outcome = "error"
            rows.append(
                CallLog(
                    **common,
                    created_at=when + timedelta(seconds=attempt),
                    provider=rng.choice(["openai", "anthropic"]),
                    model=rng.choice(["gpt-4.1", "gpt-4o-mini", "claude-x"]),
                    attempt=attempt,
                    is_fallback=attempt > 1 and rng.random() < 0.7,
                    outcome=outcome,
                    latency_ms=rng.lognormvariate(6, 1.2),
                    input_tokens=rng.randint(0, 900),
                    output_tokens=rng.randint(0, 300),
                    cache_read_tokens=rng.choice([0, 0, 512]),
                    cache_write_tokens=rng.choice([0, 64]),
                    image_count=rng.choice([0, 0, 1]),
                    cost_usd=rng.choice([None, Decimal(rng.randint(1, 10**6)) / 10**8]),
                )
            )
    return rows


def _expected(model: Any) -> dict[tuple[Any, ...], tuple[list[int], list[int] | None]]:
    """The table as the call log says it should be, for the days summed."""
    keys = TABLES[model]
    done = set(UsageDailyDone.objects.values_list("day", flat=True))
    histogram = hasattr(model, "lat_000")
    result: dict[tuple[Any, ...], tuple[list[int], list[int] | None]] = {}
    for key, totals in summed(CallLog.objects.all()).items():
        named = dict(zip(KEY_FIELDS, key, strict=True))
        day = named["hour"].astimezone(UTC).date()
        if day not in done:
            continue
        group = (day, *(named[k] for k in keys))
        sums, buckets = result.setdefault(
            group, ([0] * len(ROLLUP_SUMS), [0] * len(BUCKET_COLUMNS) if histogram else None)
        )
        sums[:] = [a + b for a, b in zip(sums, totals.sums, strict=True)]
        if buckets is not None:
            buckets[:] = [a + b for a, b in zip(buckets, totals.buckets, strict=True)]
    return result


def _stored(model: Any) -> dict[tuple[Any, ...], tuple[list[int], list[int] | None]]:
    keys = TABLES[model]
    histogram = hasattr(model, "lat_000")
    return {
        (row.day, *(getattr(row, k) for k in keys)): (
            [getattr(row, f) for f in ROLLUP_SUMS],
            [getattr(row, c) for c in BUCKET_COLUMNS] if histogram else None,
        )
        for row in model.objects.all()
    }


def _assert_every_table_equals_the_log() -> None:
    for model in TABLES:
        assert _stored(model) == _expected(model), model.__name__


@pytest.fixture
def users() -> list[Any]:
    model = get_user_model()
    return [model.objects.create_user(f"caller-{k}", password="x-pass-123") for k in range(3)]


@pytest.mark.django_db
def test_every_table_of_daily_sums_equals_the_call_log(users: list[Any]) -> None:
    for days_ago in range(1, 7):
        CallLog.objects.bulk_create(_calls(40, days_ago=days_ago, seed=days_ago, users=users))
    rebuild_rollup()
    assert sum_days_for_report(since=timezone.now() - timedelta(days=8)) >= 5
    assert UsageDailyCaller.objects.filter(user_id__gt=0).exists()
    assert UsageDailyCaller.objects.exclude(api_token="").exists()
    assert UsageDailyByModel.objects.count() < UsageDailyRoute.objects.count()
    _assert_every_table_equals_the_log()


@pytest.mark.django_db
def test_a_late_row_and_a_rebuild_leave_every_table_equal_to_the_log(users: list[Any]) -> None:
    for days_ago in (3, 4, 5):
        CallLog.objects.bulk_create(_calls(30, days_ago=days_ago, seed=days_ago, users=users))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=7)
    sum_days_for_report(since=since)
    # A call held in a backlog for days, written through the log at last.
    late = _calls(1, days_ago=4, seed=99, users=users)
    log_insert.insert_call_log(late, using=connection)
    late_day = late[0].created_at.astimezone(UTC).date()
    for model in (*TABLES, UsageDailyDone):
        assert not model.objects.filter(day=late_day).exists(), model.__name__
    _assert_every_table_equals_the_log()  # the other days untouched
    sum_days_for_report(since=since)
    assert UsageDailyDone.objects.filter(day=late_day).exists()
    _assert_every_table_equals_the_log()  # the late row's day, summed again with it
    rebuild_from = timezone.now() - timedelta(days=4, hours=12)
    rebuild_rollup(since=rebuild_from)
    first_gone = rebuild_from.astimezone(UTC).date()
    for model in (*TABLES, UsageDailyDone):
        assert not model.objects.filter(day__gte=first_gone).exists(), model.__name__
        assert model.objects.filter(day__lt=first_gone).exists(), model.__name__
    sum_days_for_report(since=since)
    _assert_every_table_equals_the_log()


@pytest.mark.django_db
def test_the_pages_groups_read_from_the_daily_tables_equal_the_hourly_ones(
    users: list[Any],
) -> None:
    for days_ago in range(1, 6):
        CallLog.objects.bulk_create(_calls(30, days_ago=days_ago, seed=10 + days_ago, users=users))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=7)
    cuts = [
        (("source", "user_id", "api_token"), False),  # UsageDailyCaller
        (("day", "provider", "model"), True),  # UsageDailyByModel
        (("task", "provider", "model"), True),  # UsageDailyRoute
        (("day", "task"), False),  # UsageDailyRoute
        (("provider", "model", "outcome"), False),  # UsageDaily
        ((), True),
    ]

    def groups(task: str | None) -> list[dict[tuple[Any, ...], Figures]]:
        window = usage_window(since=since, until=timezone.now(), task=task)
        return [grouped_usage(window, by=by, latency=latency) for by, latency in cuts]

    hourly = {task: groups(task) for task in (None, "agent")}
    assert sum_days_for_report(since=since) >= 4
    for task in (None, "agent"):
        assert groups(task) == hourly[task], task
    who = hourly[None][0]
    assert sum(f.attempts for f in who.values()) == CallLog.objects.count()


def test_figures_add_every_field_in_the_order_the_reads_fill_them() -> None:
    names = [f.name for f in fields(Figures) if f.name != "buckets"]
    assert tuple(names) == SUM_FIELDS  # rows are read positionally in this order
    one = Figures(*range(1, len(SUM_FIELDS) + 1), buckets=[1, 2])
    total = Figures()
    total.add(one)
    total.add(one)
    assert [getattr(total, n) for n in names] == [2 * getattr(one, n) for n in names]
    assert total.buckets == [2, 4]


@pytest.mark.django_db
def test_reading_only_the_occupied_buckets_gives_the_same_histograms(users: list[Any]) -> None:
    for days_ago in range(1, 5):
        CallLog.objects.bulk_create(_calls(30, days_ago=days_ago, seed=20 + days_ago, users=users))
    rebuild_rollup()
    since = timezone.now() - timedelta(days=6)
    sum_days_for_report(since=since)
    window = usage_window(since=since, until=timezone.now(), task=None)
    by = ("day", "provider", "model")
    whole = Figures()
    for figures in grouped_usage(window, by=(), latency=True).values():
        whole.add(figures)
    span = occupied_span(whole.buckets)
    assert span is not None
    assert span[1] - span[0] < len(BUCKET_COLUMNS)
    full = grouped_usage(window, by=by, latency=True)
    assert grouped_usage(window, by=by, latency=True, span=span) == full
    # A span that misses counts (a call logged since it was read) is noticed: the
    # buckets no longer add up to the attempts, and the part is read in full.
    narrow = (span[0] + 1, span[1])
    assert grouped_usage(window, by=by, latency=True, span=narrow) == full
    assert selectors.usage_summary(since=since, span=narrow) == selectors.usage_summary(since=since)
