"""The Usage page: cost, calls, failures, latency and who called, read through the rollup."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aiconfig import presenters, selectors
from aiconfig.exports import write_csv
from aiconfig.forms.usage import CUSTOM, PERIODS, UsageFilterForm, UsageFilters, period_start
from aiconfig.models import CallOutcome
from aiconfig.presenters import usage_charts, usage_page
from aiconfig.presenters.budgets import budget_rows
from aiconfig.selectors import usage_report
from aiconfig.selectors.budgets import budget_statuses
from aiconfig.selectors.rollup_sums import occupied_span
from aiconfig.selectors.usage_report import Figures, grouped_usage, regroup
from aiconfig.services.calls import call_log_health
from aiconfig.services.usage_daily import sum_days_for_report

TEMPLATE = "aiconfig/usage.html"
__all__ = ["PERIODS", "period_start", "usage", "usage_csv"]


def _filters(request: HttpRequest) -> tuple[UsageFilterForm, UsageFilters]:
    form = UsageFilterForm(request.GET, tasks=frozenset(selectors.config_snapshot().tasks))
    return form, form.filters()


def _sum(groups: dict[Any, Figures]) -> Figures:
    total = Figures()
    for figures in groups.values():
        total.add(figures)
    return total


def _previous_label(filters: UsageFilters) -> str:
    """The previous period in words: "the 24 hours before", "the 7 days before"."""
    hours = round(filters.length.total_seconds() / 3600)
    if hours <= 48:
        return f"the {hours} hours before"
    return f"the {round(hours / 24)} days before"


def usage_context(filters: UsageFilters) -> dict[str, Any]:
    """Everything the page shows for a period: a handful of reads of the rollup."""
    task = filters.task or None
    # Settled days not summed yet are summed once, so whole days are read as days.
    sum_days_for_report(since=filters.since - filters.length, until=filters.until)
    window = usage_report.usage_window(since=filters.since, until=filters.until, task=task)
    previous = usage_report.usage_window(
        since=filters.since - filters.length, until=filters.since, task=task
    )
    step = usage_charts.grain(filters.length)
    # Two narrow reads of the sums, each a few hundred groups: per step and task (the
    # cost chart, the per-task table) and per model and outcome (the totals, fallbacks,
    # caching). One wide read of both keys was thousands of groups to add up in Python.
    by_step_task = grouped_usage(window, by=(step, "task"))
    model_keys = ("provider", "model", "outcome")
    by_model = grouped_usage(window, by=model_keys)
    by_outcome = regroup(by_model, by=model_keys, into=("outcome",))
    # Latency histograms (161 columns) only where percentiles are shown. The period's
    # first (one group, cheap): the buckets it holds counts in are all the per-model and
    # per-route reads then sum, about half of them.
    whole = _sum(grouped_usage(window, by=(), latency=True))
    span = occupied_span(whole.buckets)
    latency = grouped_usage(window, by=(step, "provider", "model"), latency=True, span=span)
    now = _sum(by_model)
    now.buckets = whole.buckets
    served = by_outcome.get((CallOutcome.SUCCESS,), Figures()).fallbacks
    before = _sum(grouped_usage(previous, by=()))
    by_task = {k[0]: f for k, f in regroup(by_step_task, by=(step, "task"), into=("task",)).items()}
    who_keys = ("source", "user_id", "api_token")
    who = grouped_usage(window, by=who_keys)  # few combinations: one read for three tables
    sources = {k[0]: f for k, f in regroup(who, by=who_keys, into=("source",)).items()}
    users = {k[0]: f for k, f in regroup(who, by=who_keys, into=("user_id",)).items()}
    tokens = {k[0]: f for k, f in regroup(who, by=who_keys, into=("api_token",)).items()}
    rows = selectors.usage_summary(since=filters.since, until=filters.until, task=task, span=span)
    charts = usage_charts.charts(
        axis=usage_charts.time_axis(since=filters.since, until=filters.until, step=step),
        step=step,
        cost_by_task=by_step_task,  # type: ignore[arg-type]
        latency_by_model=latency,  # type: ignore[arg-type]
    )
    cost = now.cost_usd
    names = usage_report.user_names(users)
    return {
        "totals": usage_page.totals(now, before, served_by_fallback=served),
        "previous_label": _previous_label(filters),
        "by_task": usage_page.breakdown(by_task, names={k: k for k in by_task}, total_cost=cost),
        "by_source": usage_page.breakdown(
            sources, names=usage_page.source_names(list(sources)), total_cost=cost
        ),
        "by_user": usage_page.breakdown(
            users, names=usage_page.user_labels(list(users), names), total_cost=cost
        ),
        "by_token": usage_page.breakdown(
            tokens, names=usage_page.token_labels(list(tokens)), total_cost=cost
        ),
        "routes": usage_page.route_lines(rows, since=filters.since, until=filters.until),
        "caching": usage_page.caching(
            regroup(by_model, by=model_keys, into=("provider", "model")),  # type: ignore[arg-type]
            selectors.config_snapshot(),
        ),
        "charts": charts,
        "failures": selectors.recent_failures(since=filters.since, until=filters.until, task=task),
    }


def usage(request: HttpRequest) -> HttpResponse:
    """Totals against the previous period, charts, breakdowns and the latest failures."""
    form, filters = _filters(request)
    context = {
        **usage_context(filters),
        "form": form,
        "filters": filters,
        "period": filters.period,
        "task": filters.task,
        "custom": CUSTOM,
        "periods": [(key, label) for key, (label, _) in PERIODS.items()],
        "tasks": sorted(selectors.config_snapshot().tasks),
        "nav": "usage",
        # Rows this process could not write when it should have (see calls/log.py).
        "log_health": call_log_health(),
        # Budgets with this period's spend (templates/aiconfig/_budgets.html).
        "budget_rows": budget_rows(budget_statuses()),
    }
    return render(request, TEMPLATE, context)


def usage_csv(request: HttpRequest) -> HttpResponse:
    """The Usage table for the same filters, as CSV (the columns of `ai_usage --csv`)."""
    _, filters = _filters(request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = filters.period if filters.period != CUSTOM else f"{filters.start_day}-{filters.end_day}"
    response["Content-Disposition"] = f'attachment; filename="aiconfig-usage-{name}.csv"'
    sum_days_for_report(since=filters.since, until=filters.until)
    rows = selectors.usage_summary(
        since=filters.since, until=filters.until, task=filters.task or None
    )
    write_csv(
        response,
        columns=presenters.USAGE_COLUMNS,
        records=(presenters.usage_record(row) for row in rows),
    )
    return response
