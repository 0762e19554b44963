"""Usage read through the usage rollup: `usage_summary`, and whether the rollup is in step.

Whole hours come from `UsageRollup`, the partial hours at either end from the call
log; when the two disagree the whole period is read from the log
(`aiconfig.selectors.usage`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Q, Sum
from django.utils import timezone

from aiconfig.latency import histogram_percentile, hour_of, latency_bucket
from aiconfig.models import CallLog, CallOutcome, ConfigChange, UsageDailyRoute, UsageRollup
from aiconfig.selectors.rollup_sums import RollupPart, summed_rows_with_histogram
from aiconfig.selectors.usage import (
    FAILED_OUTCOMES,
    UsageRow,
    _usage_summary_from_log,
    is_last_attempt,
    percentile,
)
from aiconfig.selectors.usage_daily import daily_run


def usage_summary(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    task: str | None = None,
    span: tuple[int, int] | None = None,
) -> list[UsageRow]:
    """Calls, errors, fallbacks, tokens, cost and latency percentiles per task/provider/model.

    `span`: the latency buckets the period's whole histogram holds counts in, when the
    caller read it already (`rollup_sums.summed_rows_with_histogram`).

    Whole hours come from the usage rollup, the partial hours at either end from the
    call log, so counts and cost are exactly the log's; percentiles of keys the rollup
    contributes to are read from its histogram (within 4.5%), the others are exact.
    When the rollup does not count the rows the log holds for those hours (rows
    written some other way, not yet rebuilt), the whole period is read from the log.
    """
    end = until if until is not None else timezone.now()
    last_hour = hour_of(end)
    first_hour = None if since is None else _ceil_hour(since)
    if first_hour is not None and first_hour >= last_hour:
        return _usage_summary_from_log(since=since, until=until, task=task)
    if not _rollup_in_step(first_hour, last_hour, task):
        return _usage_summary_from_log(since=since, until=until, task=task)
    return _usage_summary_from_rollup(
        since=since, end=end, first_hour=first_hour, last_hour=last_hour, task=task, span=span
    )


@dataclass(frozen=True, slots=True)
class RollupDrift:
    """Call-log rows and failed calls, and what the rollup counts for them, since `since`."""

    since: datetime
    log_rows: int
    rollup_attempts: int
    log_failed_calls: int = 0
    rollup_failed_calls: int = 0

    @property
    def in_step(self) -> bool:
        """Whether the rollup counts exactly the rows and failed calls the call log holds."""
        return (
            self.log_rows == self.rollup_attempts
            and self.log_failed_calls == self.rollup_failed_calls
        )


def last_prune_cutoff() -> datetime | None:
    """Up to when the call log was last pruned (the rollup alone holds what came before)."""
    change = (
        ConfigChange.objects.filter(
            target_type=ConfigChange.Target.CALLLOG, action=ConfigChange.Action.DELETE
        )
        .order_by("-created_at", "-id")
        .only("before")
        .first()
    )
    raw = (change.before or {}).get("older_than") if change else None
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def rollup_drift(*, window: timedelta = timedelta(days=1)) -> RollupDrift:
    """Compare the call log with the rollup over the last `window` (whole hours).

    Indexed range aggregates, cheap enough for `manage.py check`: failed calls are
    counted among the (few) failed rows only. Hours a prune
    cut into are left out: their rollup rightly counts rows the log no longer has.
    """
    since = hour_of(timezone.now() - window)
    cutoff = last_prune_cutoff()
    if cutoff is not None and cutoff > since:
        since = hour_of(cutoff) + timedelta(hours=1)
    logs = CallLog.objects.filter(created_at__gte=since)
    failed_calls = logs.filter(is_last_attempt(), outcome__in=FAILED_OUTCOMES).count()
    rolled = UsageRollup.objects.filter(hour__gte=since).aggregate(
        attempts=Sum("attempts"), failed_calls=Sum("failed_calls")
    )
    return RollupDrift(
        since=since,
        log_rows=logs.count(),
        rollup_attempts=rolled["attempts"] or 0,
        log_failed_calls=failed_calls,
        rollup_failed_calls=rolled["failed_calls"] or 0,
    )


def _ceil_hour(moment: datetime) -> datetime:
    start = hour_of(moment)
    return start if start == moment else start + timedelta(hours=1)


def _rollup_in_step(first_hour: datetime | None, last_hour: datetime, task: str | None) -> bool:
    """Whether the rollup counts exactly the call-log rows of these whole hours.

    Hours before the last prune are not compared: only the rollup still has them.
    """
    start = first_hour
    cutoff = last_prune_cutoff()
    if cutoff is not None:
        after_prune = hour_of(cutoff) + timedelta(hours=1)
        start = after_prune if start is None else max(start, after_prune)
    logged = attempts = 0
    # Whole days in the daily sums are not compared: they equal their hours by
    # construction, and counting the log under them is what made long reports slow.
    # Rows imported into them since are seen by `check` and fixed by a rebuild.
    for low, high in _hour_ranges(start, last_hour):
        logs = CallLog.objects.filter(created_at__lt=high)
        rolled = UsageRollup.objects.filter(hour__lt=high)
        if low is not None:
            logs = logs.filter(created_at__gte=low)
            rolled = rolled.filter(hour__gte=low)
        if task:
            logs = logs.filter(task=task)
            rolled = rolled.filter(task=task)
        logged += logs.count()
        attempts += rolled.aggregate(n=Sum("attempts"))["n"] or 0
    return logged == attempts


def _hour_ranges(
    first_hour: datetime | None, last_hour: datetime
) -> list[tuple[datetime | None, datetime]]:
    """The ranges of [first_hour, last_hour) read hour by hour: around the summed days.

    Two plain ranges (before and after the run `daily_run` finds), so each is an index
    range scan.
    """
    days = daily_run(first_hour, last_hour)
    if days is None:
        return [(first_hour, last_hour)]
    ranges: list[tuple[datetime | None, datetime]] = []
    if first_hour is None or first_hour < days[0]:
        ranges.append((first_hour, days[0]))
    if days[1] < last_hour:
        ranges.append((days[1], last_hour))
    return ranges


@dataclass
class _Sums:
    """One task/provider/model's figures while they are added up."""

    calls: int = 0
    errors: int = 0
    failed_calls: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    cost: Decimal = Decimal(0)
    priced: int = 0
    unpriced: int = 0
    buckets: list[int] | None = None
    latencies: list[float] | None = None


def _usage_summary_from_rollup(
    *,
    since: datetime | None,
    end: datetime,
    first_hour: datetime | None,
    last_hour: datetime,
    task: str | None,
    span: tuple[int, int] | None,
) -> list[UsageRow]:
    keys = ("task", "provider", "model")
    # Whole summed days from UsageDailyRoute, the other whole hours from the hourly rollup.
    days = daily_run(first_hour, last_hour)
    parts = [RollupPart(UsageDailyRoute, "day", days[0].date(), days[1].date())] if days else []
    parts.extend(
        RollupPart(UsageRollup, "hour", low, high)
        for low, high in _hour_ranges(first_hour, last_hour)
    )
    edges = CallLog.objects.filter(created_at__gte=last_hour, created_at__lt=end)
    if since is not None and first_hour is not None and since < first_hour:
        edges = CallLog.objects.filter(
            Q(created_at__gte=since, created_at__lt=first_hour)
            | Q(created_at__gte=last_hour, created_at__lt=end)
        )
    if task:
        edges = edges.filter(task=task)
    names = (
        *keys,
        "attempts",
        "errors",
        "failed_calls",
        "fallbacks",
        "input_tokens",
        "output_tokens",
        "images",
        "cost_e8",
        "priced",
        "unpriced",
    )
    width = len(names)
    sums: dict[tuple[str, str, str], _Sums] = {}
    for values in (
        values
        for part in parts
        for values in summed_rows_with_histogram(
            part, by=keys, counters=names[3:], task=task, span=span
        )
    ):
        row = dict(zip(names, values[:width], strict=True))
        entry = sums.setdefault((row["task"], row["provider"], row["model"]), _Sums())
        entry.calls += row["attempts"] or 0
        entry.errors += row["errors"] or 0
        entry.failed_calls += row["failed_calls"] or 0
        entry.fallbacks += row["fallbacks"] or 0
        entry.input_tokens += row["input_tokens"] or 0
        entry.output_tokens += row["output_tokens"] or 0
        entry.images += row["images"] or 0
        entry.cost += Decimal(row["cost_e8"] or 0) / ROLLUP_COST_UNITS
        entry.priced += row["priced"] or 0
        entry.unpriced += row["unpriced"] or 0
        buckets = list(values[width:])
        if entry.buckets is None:
            entry.buckets = buckets
        else:
            entry.buckets = [a + b for a, b in zip(entry.buckets, buckets, strict=True)]
    for values in (
        edges.annotate(ends_call=is_last_attempt())
        .values_list(
            *keys,
            "ends_call",
            "outcome",
            "is_fallback",
            "input_tokens",
            "output_tokens",
            "image_count",
            "cost_usd",
            "latency_ms",
        )
        .order_by()
    ):
        entry = sums.setdefault(values[:3], _Sums())
        ends_call, outcome, is_fallback, tokens_in, tokens_out, images, cost, latency = values[3:]
        entry.calls += 1
        entry.errors += outcome in FAILED_OUTCOMES
        entry.failed_calls += bool(ends_call) and outcome in FAILED_OUTCOMES
        entry.fallbacks += bool(is_fallback)
        entry.input_tokens += tokens_in or 0
        entry.output_tokens += tokens_out or 0
        entry.images += images or 0
        if cost is None:
            entry.unpriced += outcome == CallOutcome.SUCCESS
        else:
            entry.cost += cost
            entry.priced += 1
        if entry.buckets is not None:
            entry.buckets[latency_bucket(latency)] += 1
        else:
            if entry.latencies is None:
                entry.latencies = []
            entry.latencies.append(latency)
    result = []
    for key in sorted(sums):
        entry = sums[key]
        if entry.buckets is not None:
            p50 = histogram_percentile(entry.buckets, 0.50)
            p95 = histogram_percentile(entry.buckets, 0.95)
        else:
            p50 = percentile(entry.latencies or [], 0.50)
            p95 = percentile(entry.latencies or [], 0.95)
        result.append(
            UsageRow(
                task=key[0],
                provider=key[1],
                model=key[2],
                calls=entry.calls,
                errors=entry.errors,
                fallbacks=entry.fallbacks,
                input_tokens=entry.input_tokens,
                output_tokens=entry.output_tokens,
                images=entry.images,
                cost_usd=entry.cost.quantize(ROLLUP_COST_PRECISION) if entry.priced else None,
                unpriced_calls=entry.unpriced,
                p50_latency_ms=p50,
                p95_latency_ms=p95,
                failed_calls=entry.failed_calls,
            )
        )
    return result


ROLLUP_COST_UNITS = Decimal(100_000_000)
ROLLUP_COST_PRECISION = Decimal("0.00000001")
