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
from django.db.models import Q
from django.utils import timezone

from aiconfig.latency import BUCKET_COLUMNS, histogram_percentile, hour_of, latency_bucket
from aiconfig.models import (
    CallLog,
    CallOutcome,
    UsageDaily,
    UsageDailyByModel,
    UsageDailyCaller,
    UsageDailyRoute,
    UsageRollup,
)
from aiconfig.selectors.rollup import ROLLUP_COST_UNITS, _ceil_hour, _hour_ranges, _rollup_in_step
from aiconfig.selectors.rollup_sums import RollupPart, summed_rows, summed_rows_with_histogram
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
        # Spelled out, not a loop over SUM_FIELDS: the page adds tens of thousands of
        # groups, and getattr/setattr by name cost most of the time (a test checks
        # every field of SUM_FIELDS is added).
        self.attempts += other.attempts
        self.calls += other.calls
        self.errors += other.errors
        self.failed_calls += other.failed_calls
        self.fallbacks += other.fallbacks
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_read_tokens += other.cache_read_tokens
        self.cache_write_tokens += other.cache_write_tokens
        self.images += other.images
        self.cost_e8 += other.cost_e8
        self.priced += other.priced
        self.unpriced += other.unpriced
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
    window: UsageWindow,
    *,
    by: Sequence[str],
    latency: bool = False,
    span: tuple[int, int] | None = None,
) -> dict[tuple[Any, ...], Figures]:
    """The window's figures per group of `by` (see `DIMENSIONS`); () for the totals.

    `latency`: also sum the latency histogram (161 columns: ask only where needed);
    `span`: the buckets the window's whole histogram holds counts in, if known
    (`rollup_sums.summed_rows_with_histogram`).
    """
    unknown = set(by) - DIMENSIONS
    if unknown:
        raise ValueError(f"Cannot group usage by {', '.join(sorted(unknown))}.")
    groups: dict[tuple[Any, ...], Figures] = {}
    if window.first_hour is not None:
        width, counted = len(by), len(SUM_FIELDS)
        for part in _rollup_parts(window, by=by, latency=latency):
            if latency:
                rows = summed_rows_with_histogram(
                    part, by=by, counters=SUM_FIELDS, task=window.task, span=span
                )
            else:
                rows = summed_rows(part, by=by, columns=SUM_FIELDS, task=window.task)
            for row in rows:
                figures = Figures(*row[width : width + counted])
                if latency:
                    figures.buckets = list(row[width + counted :])
                key = row[:width]
                if "day" in by:
                    at = by.index("day")
                    key = (*key[:at], _as_date(key[at]), *key[at + 1 :])
                group = groups.get(key)
                if group is None:
                    groups[key] = figures
                else:
                    group.add(figures)
    for key, figures in _edge_figures(window.edges, by=by, latency=latency):
        groups.setdefault(key, Figures()).add(figures)
    return groups


def _rollup_parts(window: UsageWindow, *, by: Sequence[str], latency: bool) -> list[RollupPart]:
    """The parts the window's whole hours are read from.

    Grouped (and filtered) by no more than the key of a table of daily sums
    (`_DAILY_TABLES`), whole summed days come from it (a few thousand rows for 90 days)
    and the other hours from the hourly rollup; else all from the hourly. Days are UTC
    days: grouped by day, the daily sums serve only when the server's time zone is UTC.
    """
    assert window.first_hour is not None
    assert window.last_hour is not None
    parts: list[RollupPart] = []
    ranges: list[tuple[datetime | None, datetime]] = [(window.first_hour, window.last_hour)]
    needed = {*by, "task"} if window.task else set(by)  # a table filtered by task keeps it
    table = next(
        (
            model
            for model, keys, histogram in _DAILY_TABLES
            if needed <= keys and (histogram or not latency)
        ),
        None,
    )
    if table is not None and ("day" not in by or timezone.get_current_timezone_name() == "UTC"):
        days = daily_run(window.first_hour, window.last_hour)
        if days is not None:
            parts.append(RollupPart(table, "day", days[0].date(), days[1].date()))
            ranges = _hour_ranges(window.first_hour, window.last_hour)
    parts.extend(RollupPart(UsageRollup, "hour", low, high) for low, high in ranges)
    return parts


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


# The tables of daily sums, the keys each can be grouped by, and whether it holds the
# latency histogram (the first that fits serves: the one with the fewest rows).
_DAILY_TABLES: tuple[tuple[Any, frozenset[str], bool], ...] = (
    (UsageDailyByModel, frozenset({"day", "provider", "model"}), True),
    (UsageDailyRoute, frozenset({"day", "task", "provider", "model"}), True),
    (UsageDaily, frozenset({"day", "task", "provider", "model", "outcome"}), True),
    (UsageDailyCaller, frozenset({"day", "task", "source", "user_id", "api_token"}), False),
)


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
