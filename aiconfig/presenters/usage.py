"""The Usage page and its exports: totals, the per-day chart, the per-model table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiconfig.formatting import ms, usd
from aiconfig.pricing import format_usd
from aiconfig.selectors import DailyUsage, UsageRow

USAGE_COLUMNS = (
    "task",
    "provider",
    "model",
    "calls",
    "errors",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "images",
    "cost_usd",
    "unpriced_calls",
    "p50_latency_ms",
    "p95_latency_ms",
)


def usage_record(row: UsageRow) -> dict[str, Any]:
    """A usage row as plain values for JSON and CSV (cost as a decimal string, never a float)."""
    values = {name: getattr(row, name) for name in USAGE_COLUMNS}
    values["cost_usd"] = format_usd(row.cost_usd)
    for key in ("p50_latency_ms", "p95_latency_ms"):
        if values[key] is not None:
            values[key] = round(values[key], 1)
    return values


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One task/provider/model row of the Usage table."""

    task: str
    route: str
    calls: int
    errors: int
    fallbacks: int
    tokens: str
    images: int
    cost: str
    p50: str
    p95: str


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the calls chart, with its geometry in the SVG's coordinates."""

    label: str
    title: str
    x: float
    width: float
    ok_y: float
    ok_height: float
    error_y: float
    error_height: float
    show_label: bool
    label_x: float
    label_anchor: str


@dataclass(frozen=True, slots=True)
class FailureLine:
    """A recent failed attempt."""

    when: Any
    task: str
    route: str
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class UsageView:
    """Everything the Usage page shows."""

    calls: int
    errors: int
    error_rate: str
    fallbacks: int
    cost: str
    unpriced: int
    lines: tuple[UsageLine, ...]
    bars: tuple[DayBar, ...]
    chart_label: str
    failures: tuple[FailureLine, ...]


def _usage_volume(row: UsageRow) -> str:
    """Tokens in / out, and images when there are any."""
    parts = []
    if row.input_tokens or row.output_tokens:
        parts.append(f"{row.input_tokens:,} / {row.output_tokens:,}")
    if row.images:
        parts.append(f"{row.images} image{'s' if row.images != 1 else ''}")
    return " · ".join(parts) or "—"


CHART_WIDTH = 720.0
CHART_HEIGHT = 140.0
# Half the width of a day label ("Nov 26" at the chart's 11px) in SVG units: a label
# centred closer than this to an edge is anchored to that edge instead of being cut.
LABEL_HALF_WIDTH = 22.0


def _bars(days: Sequence[DailyUsage]) -> tuple[DayBar, ...]:
    if not days:
        return ()
    peak = max((d.calls for d in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    width = max(2.0, slot * 0.7)
    every = max(1, round(len(days) / 8))
    last = len(days) - 1
    bars = []
    for index, day in enumerate(days):
        total = CHART_HEIGHT * day.calls / peak
        failed = CHART_HEIGHT * day.errors / peak
        x = index * slot + (slot - width) / 2
        # Labels centre under their bar, except near an edge, where they line up with it.
        centre = index * slot + slot / 2
        if centre + LABEL_HALF_WIDTH > CHART_WIDTH:
            label_x, anchor = CHART_WIDTH, "end"
        elif centre - LABEL_HALF_WIDTH < 0:
            label_x, anchor = 0.0, "start"
        else:
            label_x, anchor = centre, "middle"
        bars.append(
            DayBar(
                label=day.day.strftime("%b %-d"),
                title=f"{day.day:%a %b %-d}: {day.calls} attempts, {day.errors} failed, "
                f"{day.fallbacks} fallbacks, {usd(day.cost_usd)}",
                x=round(x, 2),
                width=round(width, 2),
                ok_y=round(CHART_HEIGHT - total, 2),
                ok_height=round(total - failed, 2),
                error_y=round(CHART_HEIGHT - failed, 2),
                error_height=round(failed, 2),
                # Counted back from today, so today is always labelled and the spacing
                # stays even (counting from the start put two labels on top of each other).
                show_label=(last - index) % every == 0,
                label_x=round(label_x, 2),
                label_anchor=anchor,
            )
        )
    return tuple(bars)


def usage_view(
    rows: Sequence[UsageRow], days: Sequence[DailyUsage], failures: Sequence[Any]
) -> UsageView:
    """The Usage page: totals, the per-day chart, the per-model table, recent failures."""
    calls = sum(r.calls for r in rows)
    errors = sum(r.errors for r in rows)
    priced = [r.cost_usd for r in rows if r.cost_usd is not None]
    cost = sum(priced, Decimal(0)) if priced else None
    lines = tuple(
        UsageLine(
            task=r.task,
            route=f"{r.provider}/{r.model}",
            calls=r.calls,
            errors=r.errors,
            fallbacks=r.fallbacks,
            tokens=_usage_volume(r),
            images=r.images,
            cost=usd(r.cost_usd) + (" + unpriced" if r.unpriced_calls and priced else ""),
            p50=ms(r.p50_latency_ms),
            p95=ms(r.p95_latency_ms),
        )
        for r in rows
    )
    total_days = sum(d.calls for d in days)
    return UsageView(
        calls=calls,
        errors=errors,
        error_rate=f"{100 * errors / calls:.1f}%" if calls else "—",
        fallbacks=sum(r.fallbacks for r in rows),
        cost=usd(cost),
        unpriced=sum(r.unpriced_calls for r in rows),
        lines=lines,
        bars=_bars(days),
        chart_label=f"Attempts per day over {len(days)} days: {total_days} in all, "
        f"{sum(d.errors for d in days)} failed.",
        failures=tuple(
            FailureLine(
                when=f.created_at,
                task=f.task,
                route=f"{f.provider}/{f.model}",
                kind=f.error_kind,
                message=f.error_message,
            )
            for f in failures
        ),
    )
