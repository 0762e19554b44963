"""Usage read from the call log: summed rows, percentiles, days, recent failures.

`usage_summary` (in `aiconfig.selectors.rollup`) reads whole hours from the usage
rollup and falls back to `_usage_summary_from_log` here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from aiconfig.models import CallLog, CallOutcome

# Attempts that count as failures (a cancel is the caller's choice, not a failure).
FAILED_OUTCOMES = (CallOutcome.ERROR, CallOutcome.TIMED_OUT)


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The call log summed for one task, provider and model."""

    task: str
    provider: str
    model: str
    calls: int
    errors: int
    fallbacks: int
    input_tokens: int
    output_tokens: int
    images: int
    cost_usd: Decimal | None
    unpriced_calls: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def _usage_summary_from_log(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    task: str | None = None,
) -> list[UsageRow]:
    """`usage_summary` read from the call log alone (exact percentiles, slow on big logs)."""
    logs = CallLog.objects.all()
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    if until is not None:
        logs = logs.filter(created_at__lt=until)
    if task:
        logs = logs.filter(task=task)
    keys = ("task", "provider", "model")
    totals = (
        logs.values(*keys)
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)),
            fallbacks=Count("id", filter=Q(is_fallback=True)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            images=Sum("image_count"),
            cost=Sum("cost_usd"),
            unpriced=Count("id", filter=Q(outcome=CallOutcome.SUCCESS, cost_usd__isnull=True)),
        )
        .order_by(*keys)
    )
    latencies: dict[tuple[str, str, str], list[float]] = {}
    for row in logs.values_list(*keys, "latency_ms"):
        latencies.setdefault(row[:3], []).append(row[3])
    result = []
    for row in totals:
        key = (row["task"], row["provider"], row["model"])
        values = latencies.get(key, [])
        result.append(
            UsageRow(
                task=row["task"],
                provider=row["provider"],
                model=row["model"],
                calls=row["calls"],
                errors=row["errors"],
                fallbacks=row["fallbacks"],
                input_tokens=row["input_tokens"] or 0,
                output_tokens=row["output_tokens"] or 0,
                images=row["images"] or 0,
                cost_usd=row["cost"],
                unpriced_calls=row["unpriced"],
                p50_latency_ms=percentile(values, 0.50),
                p95_latency_ms=percentile(values, 0.95),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Calls and cost on one day (in the server's time zone)."""

    day: date
    calls: int
    errors: int
    fallbacks: int
    cost_usd: Decimal


def usage_by_day(*, since: datetime, until: datetime | None = None) -> list[DailyUsage]:
    """One entry per day from `since` to `until` (days without calls included, as zero)."""
    until = until or timezone.now()
    logs = CallLog.objects.filter(created_at__gte=since, created_at__lt=until)
    totals = {
        row["day"]: row
        for row in logs.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)),
            fallbacks=Count("id", filter=Q(is_fallback=True)),
            cost=Sum("cost_usd"),
        )
    }
    first, last = timezone.localdate(since), timezone.localdate(until)
    days = []
    day = first
    while day <= last:
        row = totals.get(day)
        days.append(
            DailyUsage(
                day=day,
                calls=row["calls"] if row else 0,
                errors=row["errors"] if row else 0,
                fallbacks=row["fallbacks"] if row else 0,
                cost_usd=(row["cost"] or Decimal(0)) if row else Decimal(0),
            )
        )
        day += timedelta(days=1)
    return days


def recent_failures(*, since: datetime | None = None, limit: int = 10) -> list[CallLog]:
    """The newest failed attempts, for the Usage page's "what went wrong" list."""
    failures = CallLog.objects.filter(outcome__in=FAILED_OUTCOMES)
    if since is not None:
        failures = failures.filter(created_at__gte=since)
    return list(failures.order_by("-created_at", "-id")[:limit])
