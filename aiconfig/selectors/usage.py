"""Usage read from the call log: summed rows, percentiles, recent failures.

`usage_summary` (in `aiconfig.selectors.rollup`) reads whole hours from the usage
rollup and falls back to `_usage_summary_from_log` here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Exists, OuterRef, Q, Sum

from aiconfig.models import CallLog, CallOutcome

# Attempts that count as failures (a cancel is the caller's choice, not a failure).
FAILED_OUTCOMES = (CallOutcome.ERROR, CallOutcome.TIMED_OUT)


def is_last_attempt() -> Exists:
    """For a call-log query: true for a row that is its call's last attempt.

    No later attempt of the same request exists in the whole log (looked up by the
    request id index), so a call whose attempts straddle an hour is still judged by
    its real last attempt, whose outcome is what the user got.
    """
    return ~Exists(
        CallLog.objects.filter(request_id=OuterRef("request_id"), attempt__gt=OuterRef("attempt"))
    )


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
    # Calls whose last attempt was this route's and failed: the user got an error.
    failed_calls: int = 0


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
            failed_calls=Count("id", filter=Q(is_last_attempt(), outcome__in=FAILED_OUTCOMES)),
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
                failed_calls=row["failed_calls"],
            )
        )
    return result


def recent_failures(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    task: str | None = None,
    limit: int = 10,
) -> list[CallLog]:
    """The newest failed attempts of a period, for the Usage page's "what went wrong" list."""
    failures = CallLog.objects.filter(outcome__in=FAILED_OUTCOMES)
    if since is not None:
        failures = failures.filter(created_at__gte=since)
    if until is not None:
        failures = failures.filter(created_at__lt=until)
    if task:
        failures = failures.filter(task=task)
    return list(failures.order_by("-created_at", "-id")[:limit])
