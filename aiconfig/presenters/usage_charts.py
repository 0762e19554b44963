"""The Usage page's charts: their data for `static/js/usage.js`, and the same numbers as tables.

The data goes to the page in a `json_script` element (no inline script under the CSP);
uPlot draws it. Every chart's figures are also a table, which is all a reader without
JavaScript (or without sight of the chart) needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django.utils import timezone

from aiconfig.formatting import ms, usd
from aiconfig.latency import hour_of
from aiconfig.selectors.usage_report import Figures

# Up to this long a period is charted per hour, longer ones per day.
HOURLY_UP_TO = timedelta(days=2)


def grain(length: timedelta) -> str:
    """ "hour" for short periods (24 h), "day" otherwise."""
    return "hour" if length <= HOURLY_UP_TO else "day"


def time_axis(*, since: datetime, until: datetime, step: str) -> list[Any]:
    """Every hour (UTC hour starts) or local day of the period, empty ones included."""
    last = until - timedelta(microseconds=1)
    if step == "hour":
        hours, moment = [], hour_of(since)
        while moment <= last:
            hours.append(moment)
            moment += timedelta(hours=1)
        return hours
    days, day = [], timezone.localdate(since)
    while day <= timezone.localdate(last):
        days.append(day)
        day += timedelta(days=1)
    return days


def _epoch(moment: date | datetime) -> int:
    """Seconds since 1970 for the chart's x axis (a day: its local midnight)."""
    if not isinstance(moment, datetime):
        moment = timezone.make_aware(datetime.combine(moment, time.min))
    return int(moment.timestamp())


def time_label(moment: date | datetime) -> str:
    """A day as "Mon Nov 30", an hour as "Nov 30 14:00" (local time)."""
    if isinstance(moment, datetime):
        return f"{timezone.localtime(moment):%b %-d %H:00}"
    return f"{moment:%a %b %-d}"


@dataclass(frozen=True, slots=True)
class CostRow:
    """One period step of the cost-by-task table."""

    when: str
    costs: tuple[str, ...]  # one per task, in the chart's order
    total: str


@dataclass(frozen=True, slots=True)
class LatencyRow:
    """One step and model of the latency table."""

    when: str
    model: str
    attempts: int
    p50: str
    p95: str


@dataclass(frozen=True, slots=True)
class Charts:
    """Both charts: their data for the script, and their tables."""

    data: dict[str, Any]
    tasks: tuple[str, ...]
    cost_rows: tuple[CostRow, ...]
    latency_rows: tuple[LatencyRow, ...]


def charts(
    *,
    axis: Sequence[Any],
    step: str,
    cost_by_task: Mapping[tuple[Any, str], Figures],
    latency_by_model: Mapping[tuple[Any, str, str], Figures],
) -> Charts:
    """Cost per step stacked by task, and p50/p95 latency per step for each model."""
    tasks = tuple(
        sorted(
            {task for _, task in cost_by_task},
            key=lambda t: -sum(f.cost_e8 for (_, k), f in cost_by_task.items() if k == t),
        )
    )
    cost_series = []
    for task in tasks:
        values = []
        for moment in axis:
            figures = cost_by_task.get((moment, task))
            cost = figures.cost_usd if figures else None
            values.append(float(cost) if cost is not None else 0.0)
        cost_series.append({"label": task, "values": values})
    cost_rows = []
    for moment in axis:
        cells = [cost_by_task.get((moment, task)) for task in tasks]
        known = [f.cost_usd for f in cells if f is not None and f.cost_usd is not None]
        cost_rows.append(
            CostRow(
                when=time_label(moment),
                costs=tuple(usd(f.cost_usd) if f is not None else "—" for f in cells),
                total=usd(sum(known)) if known else "—",
            )
        )
    models = sorted({(p, m) for _, p, m in latency_by_model})
    # Each step and model's percentiles once, for the chart and the table alike.
    percentiles = {
        key: (figures.percentile(0.50), figures.percentile(0.95))
        for key, figures in latency_by_model.items()
    }
    latency_series = []
    latency_rows = []
    for provider, model in models:
        p50s, p95s = [], []
        for moment in axis:
            p50, p95 = percentiles.get((moment, provider, model), (None, None))
            p50s.append(None if p50 is None else round(p50, 1))
            p95s.append(None if p95 is None else round(p95, 1))
        latency_series.append({"label": f"{provider}/{model}", "p50": p50s, "p95": p95s})
    for moment in axis:
        label = time_label(moment)
        for provider, model in models:
            figures = latency_by_model.get((moment, provider, model))
            if figures is None or not figures.attempts:
                continue
            p50, p95 = percentiles[(moment, provider, model)]
            latency_rows.append(
                LatencyRow(
                    when=label,
                    model=f"{provider}/{model}",
                    attempts=figures.attempts,
                    p50=ms(p50),
                    p95=ms(p95),
                )
            )
    x = [_epoch(moment) for moment in axis]
    data = {
        "step": step,
        "cost": {"x": x, "series": cost_series},
        "latency": {"x": x, "series": latency_series},
    }
    return Charts(data, tasks, tuple(cost_rows), tuple(latency_rows))
