"""The usage rollup sums the call log exactly, whatever the calls did, and can be rebuilt."""

from __future__ import annotations

import contextlib
import random
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError
from django.utils import timezone

from adapters import CancelToken
from aiconfig import selectors
from aiconfig.checks import check_usage_rollup
from aiconfig.latency import BUCKET_COLUMNS, histogram_percentile, hour_of
from aiconfig.models import CallLog, TaskAssignment, TaskFallback, UsageRollup
from aiconfig.services import calls
from aiconfig.services.calllog import prune_call_log
from aiconfig.services.calls import TaskFailed, log_insert
from aiconfig.services.calls import log as call_log
from aiconfig.services.rollup import KEY_FIELDS, SUM_FIELDS, rebuild_rollup, summed
from tests.fake_provider import FakeProvider

ANTHROPIC_FALLBACK = ("anthropic", "claude-3-5-sonnet-20241022")


def force(
    task: str, provider: str, model: str, *fallbacks: tuple[str, str], retries: int = 0
) -> None:
    assignment = TaskAssignment.objects.get(task__name=task)
    TaskAssignment.objects.filter(pk=assignment.pk).update(
        provider=provider, model=model, timeout_seconds=10, max_retries=retries
    )
    assignment.fallbacks.all().delete()
    TaskFallback.objects.bulk_create(
        TaskFallback(assignment=assignment, position=i, provider=p, model=m)
        for i, (p, m) in enumerate(fallbacks)
    )
    selectors.clear_config_cache()


def table() -> dict[tuple[Any, ...], tuple[list[int], list[int]]]:
    """The rollup as stored."""
    return {
        tuple(getattr(r, f) for f in KEY_FIELDS): (
            [getattr(r, f) for f in SUM_FIELDS],
            [getattr(r, c) for c in BUCKET_COLUMNS],
        )
        for r in UsageRollup.objects.all()
    }


def recomputed() -> dict[tuple[Any, ...], tuple[list[int], list[int]]]:
    """The rollup as the call log says it should be."""
    return {k: (v.sums, v.buckets) for k, v in summed(CallLog.objects.all()).items()}


def calls_of_every_kind(user: Any) -> None:
    calls.generate_text(prompt="a plain success")
    calls.generate_text(prompt="and again, same hour, same key")
    calls.generate_text(prompt="from the dashboard", source="ui", user=user)
    token = call_log.API_TOKEN.set("reporting-app")
    try:
        calls.generate_text(prompt="through the gateway", source="api")
    finally:
        call_log.API_TOKEN.reset(token)
    force("text", "openai", "fail-500", ANTHROPIC_FALLBACK)
    calls.generate_text(prompt="served by the fallback")
    # A retry: two rows of one call with the same key, merged into one upsert.
    force("text", "openai", "fail-503", ANTHROPIC_FALLBACK, retries=1)
    calls.generate_text(prompt="retried, then served by the fallback")
    force("text", "openai", "fail-400")
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="fails for the user")
    force("text", "openai", "gpt-4.1")
    "".join(calls.stream_text(prompt="a streamed answer"))
    calls.generate_image(prompt="a lighthouse")
    force("text", "openai", "a-model-nobody-prices")
    calls.generate_text(prompt="unpriced")
    force("text", "anthropic", "claude-sonnet-4-0-cached-1000-write-200")
    calls.generate_text(prompt="cached")
    force("text", "openai", "fail-500", ("openai", "fail-503"))
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="fails on the primary and on the fallback", user=user)
    force("text", "openai", "hang", ANTHROPIC_FALLBACK)
    cancel = CancelToken()
    threading.Timer(0.2, cancel.cancel).start()
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="cancelled", cancel=cancel)


@pytest.mark.django_db
def test_the_rollup_equals_the_call_log_after_calls_of_every_kind(
    wired: FakeProvider, editor: Any
) -> None:
    calls_of_every_kind(editor)
    outcomes = set(CallLog.objects.values_list("outcome", flat=True))
    assert outcomes == {"success", "error", "cancelled"}
    assert table() == recomputed()
    totals = {f: sum(v[0][i] for v in table().values()) for i, f in enumerate(SUM_FIELDS)}
    assert totals["attempts"] == CallLog.objects.count()
    assert totals["calls"] == CallLog.objects.filter(attempt=1).count() == 13
    assert totals["fallbacks"] == 3
    # Attempts: the 500, two 503s, the 400, then 500 and 503; a cancel is not an error.
    assert totals["errors"] == 6
    # Calls the user saw fail: the 400 and the call whose fallback failed too; the calls
    # served by a fallback did not fail, whatever their first attempts did.
    assert totals["failed_calls"] == 2
    by_who = {(k[KEY_FIELDS.index("user_id")], k[KEY_FIELDS.index("api_token")]) for k in table()}
    assert by_who == {(0, ""), (editor.pk, ""), (0, "reporting-app")}
    assert totals["unpriced"] == 1
    assert totals["images"] == 1
    assert (totals["cache_read_tokens"], totals["cache_write_tokens"]) == (1000, 200)
    logged = sum(c for c in CallLog.objects.values_list("cost_usd", flat=True) if c is not None)
    assert Decimal(totals["cost_e8"]) / 100_000_000 == logged


@pytest.fixture
def backlog() -> Any:
    call_log.discard_backlog()
    yield
    deadline = time.monotonic() + 3
    while call_log.call_log_health().pending_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    call_log.discard_backlog()


@pytest.mark.django_db(transaction=True)
def test_rows_and_rollup_are_written_together_or_not_at_all(
    wired: FakeProvider, backlog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The real path: the log's own autocommit connection, outside any test transaction.
    calls.generate_text(prompt="first")
    calls.wait_for_call_log()
    assert table() == recomputed() != {}
    real = log_insert.add_to_rollup
    failures = iter([DatabaseError("rollup write failed")])

    def flaky(rows: Any, **kwargs: Any) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real(rows, **kwargs)

    monkeypatch.setattr(log_insert, "add_to_rollup", flaky)
    before = calls.call_log_health()
    run = calls.generate_text(prompt="second")
    # Written by the writer thread (or at once on an in-memory database): either way
    # the failure is told, not swallowed.
    problem = run.log_error or calls.call_log_problem(
        since=before, health=calls.wait_for_call_log()
    )
    assert problem is not None
    assert "rollup write failed" in problem
    assert CallLog.objects.count() == 1  # the row waits with its rollup, not without it
    # The retry writes the row and its rollup together, once.
    deadline = time.monotonic() + 3
    while CallLog.objects.count() < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert CallLog.objects.count() == 2
    assert table() == recomputed()
    assert sum(r.attempts for r in UsageRollup.objects.all()) == 2


def insert_directly(
    count: int, *, hours_ago: float, seed: int = 1, failing: bool = False
) -> uuid.UUID:
    """Rows written around the services (an import, a restore): no rollup for them.

    `failing`: the rows are the attempts of one call, every one failed; its request id
    is returned.
    """
    rng = random.Random(seed)
    when = timezone.now() - timedelta(hours=hours_ago)
    request = uuid.uuid4()
    CallLog.objects.bulk_create(
        CallLog(
            request_id=request if failing else uuid.uuid4(),
            created_at=when,
            task="text",
            operation="text",
            provider="openai",
            model="gpt-4.1",
            attempt=i + 1 if failing else 1,
            outcome="error" if failing or not i % 10 else "success",
            latency_ms=rng.lognormvariate(6, 1),
            input_tokens=10,
            output_tokens=20,
            cost_usd=Decimal("0.00012345"),
            source="code",
        )
        for i in range(count)
    )
    return request


@pytest.mark.django_db
def test_check_warns_about_rows_the_rollup_misses_and_rebuild_fixes_it(
    wired: FakeProvider,
) -> None:
    calls.generate_text(prompt="logged the usual way")
    assert check_usage_rollup() == []
    insert_directly(30, hours_ago=2)
    [warning] = check_usage_rollup()
    assert warning.id == "aiconfig.W201"
    assert "31 rows but the rollup counts 1" in warning.msg
    assert "ai_usage rebuild" in warning.hint
    # Rows inserted directly, one call in two attempts that both failed: one failed call.
    request = insert_directly(2, hours_ago=2, failing=True)
    rebuild_rollup()
    assert check_usage_rollup() == []
    assert table() == recomputed()
    failed = UsageRollup.objects.filter(failed_calls__gt=0)
    # Three of the 30 one-attempt calls failed, and the call that failed twice.
    assert [(r.attempts, r.errors, r.failed_calls) for r in failed] == [(5, 5, 4)]
    assert CallLog.objects.filter(request_id=request).count() == 2
    # A rollup that lost count of failed calls (summed before it counted them) is noticed.
    failed.update(failed_calls=0)
    [warning] = check_usage_rollup()
    assert "log has 4 failed calls but the rollup counts 0." in warning.msg
    out = _command("ai_usage", "rebuild")
    assert "Rebuilt the usage rollup" in out
    assert check_usage_rollup() == []
    assert table() == recomputed()


@pytest.mark.django_db
def test_rebuild_since_recomputes_only_the_hours_from_then(wired: FakeProvider) -> None:
    insert_directly(5, hours_ago=72)
    insert_directly(7, hours_ago=3, seed=2)
    _command("ai_usage", "rebuild", "--since", "1d")
    assert sum(UsageRollup.objects.values_list("attempts", flat=True)) == 7
    _command("ai_usage", "rebuild")
    assert table() == recomputed()
    with pytest.raises(Exception, match="Cannot read 'yesterday'"):
        _command("ai_usage", "rebuild", "--since", "yesterday")


@pytest.mark.django_db
def test_a_prune_keeps_the_rollup_and_a_rebuild_after_it_does_not_erase_history(
    wired: FakeProvider,
) -> None:
    insert_directly(40, hours_ago=24 * 30)
    calls.generate_text(prompt="recent")
    rebuild_rollup()
    before = table()
    prune_call_log(older_than=timezone.now() - timedelta(days=7))
    assert CallLog.objects.count() == 1
    assert table() == before  # the old month's sums are still there for reports
    out = _command("ai_usage", "rebuild")
    assert "their rollup rows were kept" in out
    assert table() == before
    assert check_usage_rollup() == []


@pytest.mark.django_db
def test_percentiles_from_the_histogram_are_within_5_percent_on_skewed_data() -> None:
    rng = random.Random(7)
    # Heavy-tailed: most calls ~400 ms, a long tail into tens of seconds, a few fast ones.
    values = [rng.lognormvariate(6, 1.2) for _ in range(20_000)]
    values += [rng.uniform(1, 5) for _ in range(500)]
    values += [rng.paretovariate(1.1) * 3000 for _ in range(1500)]
    now = timezone.now()
    CallLog.objects.bulk_create(
        CallLog(
            created_at=now,
            task="text",
            operation="text",
            provider="openai",
            model="gpt-4.1",
            attempt=1,
            outcome="success",
            latency_ms=v,
            source="code",
        )
        for v in values
    )
    rebuild_rollup()
    [row] = UsageRollup.objects.all()
    assert row.hour == hour_of(now)
    counts = [getattr(row, c) for c in BUCKET_COLUMNS]
    for fraction in (0.5, 0.95, 0.99):
        exact = selectors.percentile(values, fraction)
        assert exact is not None
        read = histogram_percentile(counts, fraction)
        assert read is not None
        assert abs(read - exact) / exact < 0.05, (fraction, read, exact)


def _command(*args: str) -> str:
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        call_command(*args, stdout=out)
    return out.getvalue()


def spread_directly(count: int, *, days: float, seed: int) -> None:
    """Rows over the last `days`, several tasks and models, skewed latencies, some unpriced."""
    rng = random.Random(seed)
    now = timezone.now()
    CallLog.objects.bulk_create(
        CallLog(
            created_at=now - timedelta(seconds=rng.uniform(0, days * 86400)),
            task=rng.choice(["text", "agent"]),
            operation="text",
            provider="openai",
            model=rng.choice(["gpt-4.1", "gpt-4o-mini"]),
            attempt=rng.choice([1, 1, 1, 2]),
            is_fallback=rng.random() < 0.1,
            outcome=rng.choice(["success"] * 17 + ["error", "timed_out", "cancelled"]),
            latency_ms=rng.lognormvariate(6, 1.1),
            input_tokens=rng.randint(1, 900),
            output_tokens=rng.randint(1, 300),
            image_count=rng.choice([0, 0, 0, 1]),
            cost_usd=None if rng.random() < 0.05 else Decimal(rng.randint(1, 10**6)) / 10**8,
            source="code",
        )
        for _ in range(count)
    )


def exact_costs(since: Any, task: str | None) -> dict[tuple[str, str, str], Decimal | None]:
    """Cost per key summed in Python decimals (SQLite's SUM of a decimal column is a float)."""
    logs = CallLog.objects.all()
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    if task:
        logs = logs.filter(task=task)
    costs: dict[tuple[str, str, str], Decimal | None] = {}
    for *key, cost in logs.values_list("task", "provider", "model", "cost_usd"):
        before = costs.get(tuple(key))
        if cost is not None:
            costs[tuple(key)] = (before or Decimal(0)) + cost
        else:
            costs.setdefault(tuple(key), None)
    return costs


def assert_same_report(since: Any, task: str | None = None) -> None:
    fast = selectors.usage_summary(since=since, task=task)
    exact = selectors._usage_summary_from_log(since=since, task=task)
    assert [(r.task, r.provider, r.model) for r in fast] == [
        (r.task, r.provider, r.model) for r in exact
    ]
    for got, want in zip(fast, exact, strict=True):
        counts = ("calls", "errors", "fallbacks", "input_tokens", "output_tokens", "images")
        counts += ("failed_calls",)
        for name in (*counts, "unpriced_calls"):
            assert getattr(got, name) == getattr(want, name), name
        assert got.cost_usd == exact_costs(since, task)[(got.task, got.provider, got.model)]
        for name in ("p50_latency_ms", "p95_latency_ms"):
            assert abs(getattr(got, name) - getattr(want, name)) / getattr(want, name) < 0.05


@pytest.mark.django_db
def test_the_usage_summary_read_from_the_rollup_matches_the_call_log() -> None:
    spread_directly(6000, days=10, seed=3)
    rebuild_rollup()
    now = timezone.now()
    for since in (now - timedelta(days=7, minutes=17), now - timedelta(hours=30), None):
        assert_same_report(since)
    assert_same_report(now - timedelta(days=3), task="agent")


@pytest.mark.django_db
def test_the_usage_summary_keeps_pruned_months_and_reads_the_log_when_the_rollup_lags() -> None:
    spread_directly(500, days=60, seed=4)
    rebuild_rollup()
    everything = sum(r.calls for r in selectors.usage_summary())
    assert everything == 500
    prune_call_log(older_than=timezone.now() - timedelta(days=30))
    # The pruned month is still in the report: only the rollup has it now.
    assert sum(r.calls for r in selectors.usage_summary()) == everything
    # Rows written around the services show up at once (read from the log) until rebuilt.
    insert_directly(9, hours_ago=5, seed=9)
    recent = timezone.now() - timedelta(days=2)
    exact = selectors._usage_summary_from_log(since=recent)
    assert selectors.usage_summary(since=recent) == exact  # read from the log, rows and all
    rebuild_rollup()
    assert_same_report(recent)
