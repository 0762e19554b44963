"""The Usage page's figures: read through the rollup, exactly what the call log says."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from aiconfig.forms.usage import CUSTOM, UsageFilterForm, period_start
from aiconfig.models import CallLog, UsageRollup
from aiconfig.presenters.usage_page import change, percent
from aiconfig.selectors.usage_report import Figures, grouped_usage, regroup, usage_window
from aiconfig.services import calls
from aiconfig.services.calls import TaskFailed
from aiconfig.services.calls import log as call_log
from aiconfig.services.rollup import rebuild_rollup
from tests.fake_provider import FakeProvider
from tests.test_usage_rollup import ANTHROPIC_FALLBACK, force

pytestmark = pytest.mark.django_db

TASKS = frozenset({"text", "image", "agent"})


def log_rows(count: int, *, start: Any, span: timedelta, seed: int, **fixed: Any) -> None:
    """Calls of one or two attempts spread over [start, start + span), written directly."""
    rng = random.Random(seed)
    rows = []
    for _ in range(count):
        when = start + timedelta(seconds=rng.uniform(0, span.total_seconds()))
        request, attempts = uuid.uuid4(), rng.choice([1, 1, 1, 2])
        for attempt in range(1, attempts + 1):
            last = attempt == attempts
            values = {
                "request_id": request,
                "created_at": when,
                "task": rng.choice(["text", "agent"]),
                "operation": "text",
                "provider": "openai",
                "model": rng.choice(["gpt-4.1", "gpt-4o-mini"]),
                "attempt": attempt,
                "is_fallback": attempt > 1,
                # An earlier attempt always failed; the last one mostly answers.
                "outcome": "success" if last and rng.random() < 0.9 else "error",
                "latency_ms": rng.lognormvariate(6, 1),
                "input_tokens": rng.randint(1, 900),
                "output_tokens": rng.randint(1, 300),
                "cost_usd": Decimal(rng.randint(1, 10**6)) / 10**8,
                "source": rng.choice(["code", "cli", "ui", "playground", "api"]),
            }
            values.update(fixed)
            rows.append(CallLog(**values))
    CallLog.objects.bulk_create(rows)


def from_the_log(since: Any, until: Any, key: str | None = None) -> dict[Any, tuple[int, ...]]:
    """Attempts, calls, failed attempts, failed calls and cost per `key`, counted row by row."""
    rows = list(CallLog.objects.filter(created_at__gte=since, created_at__lt=until))
    last = {}
    for row in CallLog.objects.all():
        last[row.request_id] = max(last.get(row.request_id, 0), row.attempt)
    result: dict[Any, list[Any]] = {}
    for row in rows:
        entry = result.setdefault(getattr(row, key) if key else (), [0, 0, 0, 0, Decimal(0)])
        failed = row.outcome in ("error", "timed_out")
        entry[0] += 1
        entry[1] += row.attempt == 1
        entry[2] += failed
        entry[3] += failed and row.attempt == last[row.request_id]
        entry[4] += row.cost_usd or 0
    return {k: tuple(v) for k, v in result.items()}


def read(groups: dict[Any, Figures]) -> dict[Any, tuple[Any, ...]]:
    return {
        (k[0] if len(k) == 1 else k): (f.attempts, f.calls, f.errors, f.failed_calls, f.cost_usd)
        for k, f in groups.items()
    }


def test_totals_and_breakdowns_equal_the_call_log_over_odd_hours() -> None:
    now = timezone.now()
    log_rows(1500, start=now - timedelta(days=9), span=timedelta(days=9), seed=1)
    rebuild_rollup()
    # Partial hours at both ends: 13 minutes past, and now.
    since, until = now - timedelta(days=7, minutes=13), now
    window = usage_window(since=since, until=until)
    assert window.first_hour is not None  # whole hours really came from the rollup
    assert read(grouped_usage(window, by=())) == from_the_log(since, until)
    assert read(grouped_usage(window, by=("source",))) == from_the_log(since, until, "source")
    by_task = read(grouped_usage(window, by=("task",)))
    assert by_task == from_the_log(since, until, "task")
    wide = grouped_usage(window, by=("day", "task", "model"), latency=True)
    assert read(regroup(wide, by=("day", "task", "model"), into=("task",))) == by_task


def test_the_previous_period_is_as_long_and_ends_where_this_one_starts() -> None:
    start, until = period_start("7d"), timezone.now()
    length = until - start  # today is not over: the previous period is as long as this one
    log_rows(40, start=start - length, span=length, seed=2)
    log_rows(7, start=start - length - timedelta(days=1), span=timedelta(hours=20), seed=5)
    log_rows(50, start=start, span=length, seed=3)
    rebuild_rollup()
    now = usage_window(since=start, until=until)
    before = usage_window(since=start - now.length, until=start)
    calls_now = grouped_usage(now, by=())[()].calls
    calls_before = grouped_usage(before, by=())[()].calls
    assert (calls_now, calls_before) == (50, 40)
    assert change(calls_now, calls_before) == ("+25.0%", "up")
    assert change(30, 40) == ("-25.0%", "down")
    assert change(5, 0) == ("new", "up")
    assert change(0, 0) == ("—", "same")


def test_rows_the_rollup_misses_are_read_from_the_log() -> None:
    now = timezone.now()
    log_rows(200, start=now - timedelta(days=3), span=timedelta(days=3), seed=4)
    # No rebuild: the rollup counts none of them, so the window reads the log.
    window = usage_window(since=now - timedelta(days=5), until=now)
    assert window.first_hour is None
    assert read(grouped_usage(window, by=())) == from_the_log(now - timedelta(days=5), now)
    assert not UsageRollup.objects.exists()


def test_by_user_and_by_token_from_real_calls(wired: FakeProvider, editor: Any) -> None:
    calls.generate_text(prompt="from the dashboard", source="ui", user=editor)
    calls.generate_text(prompt="from code")
    reset = call_log.API_TOKEN.set("billing-app")
    try:
        calls.generate_text(prompt="through the gateway", source="api")
        calls.generate_text(prompt="again", source="api")
    finally:
        call_log.API_TOKEN.reset(reset)
    now = timezone.now()
    window = usage_window(since=now - timedelta(hours=1), until=now + timedelta(seconds=1))
    users = {k[0]: f.calls for k, f in grouped_usage(window, by=("user_id",)).items()}
    assert users == {editor.pk: 1, 0: 3}
    tokens = {k[0]: f.calls for k, f in grouped_usage(window, by=("api_token",)).items()}
    assert tokens == {"billing-app": 2, "": 2}
    sources = {k[0]: f.calls for k, f in grouped_usage(window, by=("source",)).items()}
    assert sources == {"ui": 1, "code": 1, "api": 2}


def test_attempts_failed_against_calls_failed_and_the_failure_rate(wired: FakeProvider) -> None:
    force("text", "openai", "fail-500", ANTHROPIC_FALLBACK)
    calls.generate_text(prompt="saved by the fallback")
    force("text", "openai", "fail-500", ("openai", "fail-503"))
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="fails for the user")
    now = timezone.now()
    window = usage_window(since=now - timedelta(hours=1), until=now + timedelta(seconds=1))
    [total] = grouped_usage(window, by=()).values()
    assert (total.calls, total.attempts, total.errors, total.failed_calls) == (2, 4, 3, 1)
    assert percent(total.errors, total.attempts) == "75.0%"
    by_outcome = grouped_usage(window, by=("outcome",))
    assert by_outcome[("success",)].fallbacks == 1  # served by a fallback


def test_period_and_task_in_the_query_string_keep_working() -> None:
    form = UsageFilterForm({"period": "30d", "task": "text"}, tasks=TASKS)
    filters = form.filters()
    assert (filters.period, filters.task, filters.label) == ("30d", "text", "Last 30 days")
    assert filters.since == period_start("30d", now=filters.until)
    assert UsageFilterForm({"period": "1y", "task": "nope"}, tasks=TASKS).filters().period == "7d"
    day = timezone.localdate() - timedelta(days=2)
    custom = UsageFilterForm({"from": f"{day}", "to": f"{day}"}, tasks=TASKS).filters()
    assert custom.period == CUSTOM
    assert timezone.localtime(custom.since).date() == day
    assert custom.length == timedelta(days=1)


@pytest.mark.parametrize("zone", ["UTC", "America/New_York"])
def test_days_are_the_servers_local_days(zone: str) -> None:
    now = timezone.now()
    log_rows(600, start=now - timedelta(days=6), span=timedelta(days=6), seed=6)
    rebuild_rollup()
    with timezone.override(zone):
        since = now - timedelta(days=5, minutes=7)
        window = usage_window(since=since, until=now)
        assert window.first_hour is not None
        days = {k[0]: f.attempts for k, f in grouped_usage(window, by=("day",)).items()}
        expected: dict[Any, int] = {}
        for when in CallLog.objects.filter(created_at__gte=since, created_at__lt=now).values_list(
            "created_at", flat=True
        ):
            day = timezone.localdate(when)
            expected[day] = expected.get(day, 0) + 1
    assert days == expected
