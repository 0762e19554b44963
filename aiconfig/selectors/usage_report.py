"""The Usage page's figures, grouped any way it needs, read through the usage rollup.

Like `usage_summary`, whole hours come from `UsageRollup` and the partial hours at
either end of the period from the call log; when the rollup does not count the rows
the log holds for those hours, the whole period is read from the log. So every figure
(totals, per day and task, per source, user or token, latency per model over time)
is exactly the log's, percentiles within 4.5% (read from the rollup's histogram), and
a 90-day page reads a few thousand rollup rows instead of millions of calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connections, router
from django.db.models import Q, Sum
from django.db.models.functions import Substr, TruncDate
from django.utils import timezone

from aiconfig.latency import BUCKET_COLUMNS, histogram_percentile, hour_of, latency_bucket
from aiconfig.models import CallLog, CallOutcome, UsageDaily, UsageRollup
from aiconfig.selectors.rollup import ROLLUP_COST_UNITS, _ceil_hour, _hour_ranges, _rollup_in_step
from aiconfig.selectors.usage import FAILED_OUTCOMES, is_last_attempt
from aiconfig.selectors.usage_daily import daily_run

# What every group sums, named as the rollup's columns.
SUM_FIELDS: tuple[str, ...] = (
    "attempts",
    "calls",
    "errors",
    "failed_calls",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "images",
    "cost_e8",
    "priced",
    "unpriced",
)
# What a group can be keyed by: a time bucket ("day" in the server's time zone, or
# "hour") and the rollup's key columns.
DIMENSIONS = frozenset(
    {
        "day",
        "hour",
        "task",
        "operation",
        "provider",
        "model",
        "outcome",
        "source",
        "user_id",
        "api_token",
    }
)
_LOG_COLUMNS = (
    "created_at",
    "task",
    "operation",
    "provider",
    "model",
    "source",
    "user_id",
    "api_token",
    "attempt",
    "is_fallback",
    "outcome",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "image_count",
    "cost_usd",
    "latency_ms",
)


@dataclass(slots=True)
class Figures:
    """One group's sums (and, when asked for, its latency histogram)."""

    attempts: int = 0
    calls: int = 0  # first attempts: one per call
    errors: int = 0  # attempts that failed
    failed_calls: int = 0  # calls the user saw fail (their last attempt failed)
    fallbacks: int = 0  # attempts served by a fallback route
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    images: int = 0
    cost_e8: int = 0
    priced: int = 0
    unpriced: int = 0
    buckets: list[int] | None = None

    @property
    def cost_usd(self) -> Decimal | None:
        """The exact cost in USD; None when no attempt had a known price."""
        return Decimal(self.cost_e8) / ROLLUP_COST_UNITS if self.priced else None

    def percentile(self, fraction: float) -> float | None:
        """A latency percentile from the histogram (None without one or without calls)."""
        return histogram_percentile(self.buckets, fraction) if self.buckets else None

    def add(self, other: Figures) -> None:
        """Add another group's sums (and histogram) to these."""
        for name in SUM_FIELDS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        if other.buckets is not None:
            if self.buckets is None:
                self.buckets = list(other.buckets)
            else:
                self.buckets = [a + b for a, b in zip(self.buckets, other.buckets, strict=True)]


@dataclass
class UsageWindow:
    """A period to report on: which whole hours the rollup holds, and the log's edges.

    Built once per period by `usage_window`; `grouped_usage` then reads it any number
    of ways without reading the edges again.
    """

    since: datetime
    until: datetime
    task: str | None
    first_hour: datetime | None  # None: nothing read from the rollup
    last_hour: datetime | None
    edges: list[tuple[Any, ...]] = field(default_factory=list)

    @property
    def length(self) -> timedelta:
        """How long the period is."""
        return self.until - self.since


def usage_window(*, since: datetime, until: datetime, task: str | None = None) -> UsageWindow:
    """The period [since, until) split into rollup hours and call-log edges."""
    first_hour, last_hour = _ceil_hour(since), hour_of(until)
    window = UsageWindow(since, until, task, first_hour, last_hour)
    if first_hour >= last_hour or not _rollup_in_step(first_hour, last_hour, task):
        # Too short for a whole hour, or rows the rollup does not count: the log it is.
        window.first_hour = window.last_hour = None
        edges = CallLog.objects.filter(created_at__gte=since, created_at__lt=until)
    else:
        edges = CallLog.objects.filter(
            Q(created_at__gte=since, created_at__lt=first_hour)
            | Q(created_at__gte=last_hour, created_at__lt=until)
        )
    if task:
        edges = edges.filter(task=task)
    rows = edges.annotate(ends_call=is_last_attempt()).values_list(*_LOG_COLUMNS, "ends_call")
    window.edges = list(rows.order_by())
    return window


def grouped_usage(
    window: UsageWindow, *, by: Sequence[str], latency: bool = False
) -> dict[tuple[Any, ...], Figures]:
    """The window's figures per group of `by` (see `DIMENSIONS`); () for the totals.

    `latency`: also sum the latency histogram (161 columns: ask only where needed).
    """
    unknown = set(by) - DIMENSIONS
    if unknown:
        raise ValueError(f"Cannot group usage by {', '.join(sorted(unknown))}.")
    groups: dict[tuple[Any, ...], Figures] = {}
    if window.first_hour is not None:
        sums: dict[str, Any] = {name: Sum(name) for name in SUM_FIELDS}
        if latency:
            sums.update({column: Sum(column) for column in BUCKET_COLUMNS})
        for part, plain_days in _rollup_parts(window, by=by):
            if by:
                rows = list(part.values(*by).annotate(**sums).order_by())
            else:
                # One aggregate: `values()` without names would group by every column.
                total = part.aggregate(**sums)
                rows = [total] if total["attempts"] is not None else []
            for row in rows:
                figures = Figures(**{name: row[name] or 0 for name in SUM_FIELDS})
                if latency:
                    figures.buckets = [row[column] or 0 for column in BUCKET_COLUMNS]
                if plain_days:
                    row["day"] = date.fromisoformat(row["day"])
                key = tuple(row[name] for name in by)
                groups.setdefault(key, Figures()).add(figures)
    for key, figures in _edge_figures(window.edges, by=by, latency=latency):
        groups.setdefault(key, Figures()).add(figures)
    return groups


def _rollup_parts(window: UsageWindow, *, by: Sequence[str]) -> list[tuple[Any, bool]]:
    """The querysets the window's whole hours are read from, each with its day form.

    Grouped by no more than day, task, provider, model and outcome, in UTC (the days of
    `UsageDaily`), whole summed days come from the daily sums (a few thousand rows
    for 90 days) and the other hours from the hourly rollup; else all from the hourly.
    """
    assert window.first_hour is not None
    task = window.task
    parts: list[tuple[Any, bool]] = []
    ranges: list[tuple[datetime | None, datetime]] = [(window.first_hour, window.last_hour)]
    if set(by) <= _DAILY_KEYS and timezone.get_current_timezone_name() == "UTC":
        days = daily_run(window.first_hour, window.last_hour)
        if days is not None:
            daily = UsageDaily.objects.filter(day__gte=days[0].date(), day__lt=days[1].date())
            parts.append((daily.filter(task=task) if task else daily, False))
            ranges = _hour_ranges(window.first_hour, window.last_hour)
    plain_days = "day" in by and _days_by_substring()
    for low, high in ranges:
        rolled = UsageRollup.objects.filter(hour__gte=low, hour__lt=high)
        if task:
            rolled = rolled.filter(task=task)
        if "day" in by:
            rolled = rolled.annotate(
                day=Substr("hour", 1, 10)
                if plain_days
                else TruncDate("hour", tzinfo=timezone.get_current_timezone())
            )
        parts.append((rolled, plain_days))
    return parts


_DAILY_KEYS = frozenset({"day", "task", "provider", "model", "outcome"})


def _days_by_substring() -> bool:
    """Whether a rollup hour's day can be read as the first 10 characters of its text.

    On SQLite in UTC (the default) it can: hours are stored as UTC text. There
    TruncDate calls a Python function once per row, a fifth of a 90-day page's time.
    """
    vendor = connections[router.db_for_read(UsageRollup)].vendor
    return vendor == "sqlite" and timezone.get_current_timezone_name() == "UTC"


def _edge_figures(
    rows: Iterable[tuple[Any, ...]], *, by: Sequence[str], latency: bool
) -> Iterable[tuple[tuple[Any, ...], Figures]]:
    """What each call-log row adds, keyed like the rollup's groups."""
    for values in rows:
        row = dict(zip((*_LOG_COLUMNS, "ends_call"), values, strict=True))
        row["day"] = timezone.localdate(row["created_at"])
        row["hour"] = hour_of(row["created_at"])
        row["user_id"] = row["user_id"] or 0
        failed = row["outcome"] in FAILED_OUTCOMES
        cost = row["cost_usd"]
        figures = Figures(
            attempts=1,
            calls=int(row["attempt"] == 1),
            errors=int(failed),
            failed_calls=int(failed and bool(row["ends_call"])),
            fallbacks=int(bool(row["is_fallback"])),
            input_tokens=row["input_tokens"] or 0,
            output_tokens=row["output_tokens"] or 0,
            cache_read_tokens=row["cache_read_tokens"] or 0,
            cache_write_tokens=row["cache_write_tokens"] or 0,
            images=row["image_count"] or 0,
            cost_e8=0 if cost is None else int((cost * ROLLUP_COST_UNITS).to_integral_value()),
            priced=int(cost is not None),
            unpriced=int(cost is None and row["outcome"] == CallOutcome.SUCCESS),
        )
        if latency:
            figures.buckets = [0] * len(BUCKET_COLUMNS)
            figures.buckets[latency_bucket(row["latency_ms"])] += 1
        yield tuple(row[name] for name in by), figures


def regroup(
    groups: Mapping[tuple[Any, ...], Figures], *, by: Sequence[str], into: Sequence[str]
) -> dict[tuple[Any, ...], Figures]:
    """Groups keyed by `by` added up into coarser ones keyed by `into` (a subset of `by`).

    One wide query, then every coarser view of it in Python, instead of one query each.
    """
    positions = [list(by).index(name) for name in into]
    result: dict[tuple[Any, ...], Figures] = {}
    for key, figures in groups.items():
        result.setdefault(tuple(key[i] for i in positions), Figures()).add(figures)
    return result


def user_names(user_ids: Iterable[int]) -> dict[int, str]:
    """Usernames for user ids (0, and users since deleted, are left out)."""
    wanted = {pk for pk in user_ids if pk}
    if not wanted:
        return {}
    model = get_user_model()
    return dict(
        model.objects.filter(pk__in=wanted).values_list("pk", model.USERNAME_FIELD).order_by()
    )
