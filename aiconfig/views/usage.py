"""The Usage page: calls, failures, fallbacks and cost from the call log."""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from aiconfig import presenters, selectors
from aiconfig.exports import write_csv
from aiconfig.presenters.budgets import budget_rows
from aiconfig.selectors.budgets import budget_statuses
from aiconfig.services.calls import call_log_health

TEMPLATE = "aiconfig/usage.html"
PERIODS: dict[str, tuple[str, timedelta]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
}
DEFAULT_PERIOD = "7d"


def _filters(request: HttpRequest) -> tuple[str, str]:
    """The chosen period and task; unknown values fall back to the defaults."""
    period = request.GET.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    task = request.GET.get("task", "")
    if task not in selectors.config_snapshot().tasks:
        task = ""
    return period, task


def period_start(period: str, *, now: datetime | None = None) -> datetime:
    """When a period begins: "Last 7 days" is today and the six days before it.

    Whole local days from midnight, so the per-day chart has exactly that many bars and
    the totals count the same calls the bars show. "Last 24 hours" stays a rolling window.
    """
    now = now or timezone.now()
    length = PERIODS[period][1]
    if length < timedelta(days=2):
        return now - length
    first_day = timezone.localdate(now) - timedelta(days=length.days - 1)
    return timezone.make_aware(datetime.combine(first_day, time.min))


def usage(request: HttpRequest) -> HttpResponse:
    """Totals, a per-day chart, a per-task/provider/model table and the latest failures."""
    period, task = _filters(request)
    since = period_start(period)
    rows = selectors.usage_summary(since=since, task=task or None)
    days = selectors.usage_by_day(since=since)
    failures = selectors.recent_failures(since=since)
    context = {
        "view": presenters.usage_view(rows, days, failures),
        "period": period,
        "task": task,
        "periods": [(key, label) for key, (label, _) in PERIODS.items()],
        "tasks": sorted(selectors.config_snapshot().tasks),
        "chart_width": presenters.CHART_WIDTH,
        "chart_height": presenters.CHART_HEIGHT,
        "nav": "usage",
        # Rows this process could not write when it should have (see calls/log.py).
        "log_health": call_log_health(),
        # Budgets with this period's spend (templates/aiconfig/_budgets.html).
        "budget_rows": budget_rows(budget_statuses()),
    }
    return render(request, TEMPLATE, context)


def usage_csv(request: HttpRequest) -> HttpResponse:
    """The Usage table for the same filters, as CSV (the columns of `ai_usage --csv`)."""
    period, task = _filters(request)
    since = period_start(period)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="aiconfig-usage-{period}.csv"'
    rows = selectors.usage_summary(since=since, task=task or None)
    write_csv(
        response,
        columns=presenters.USAGE_COLUMNS,
        records=(presenters.usage_record(row) for row in rows),
    )
    return response
