"""The Budgets page: budgets with their spend, alert rules, and the alerts sent.

Anyone signed in may look; changing budgets and rules needs the `change_budget` /
`change_alertrule` permissions (editors and endpoint admins). A webhook URL receives
usage data, so only endpoint admins see or set that field (the service checks again).
Forms are plain POSTs that HTMX upgrades: the page's `budgets_body` partial comes back.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from aiconfig import selectors
from aiconfig.enums import AlertMetric, BudgetAction, BudgetPeriod, Channel
from aiconfig.presenters.budgets import RuleRow, budget_rows
from aiconfig.selectors.alerts import list_alert_rules, read_rule, recent_alerts
from aiconfig.selectors.budgets import budget_statuses
from aiconfig.services.budgets import (
    delete_alert_rule,
    delete_budget,
    save_alert_rule,
    save_budget,
)
from aiconfig.views.common import INVALID, abilities, flash, post_with_permission, toast

TEMPLATE = "aiconfig/budgets.html"
CHANGE_BUDGETS = "aiconfig.change_budget"
CHANGE_RULES = "aiconfig.change_alertrule"
BUDGET_FIELDS = ("task", "amount_usd", "period", "warn_at_percent", "action", "email_to")
RULE_FIELDS = ("name", "task", "metric", "threshold", "window_minutes", "email_to")


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "nav": "usage",
        "budget_rows": budget_rows(budget_statuses()),
        "rule_rows": [RuleRow(read_rule(rule)) for rule in list_alert_rules()],
        "alerts": recent_alerts(),
        "tasks": sorted(selectors.config_snapshot().tasks),
        "periods": BudgetPeriod.choices,
        "actions": BudgetAction.choices,
        "metrics": AlertMetric.choices,
        "can_edit_budgets": request.user.has_perm(CHANGE_BUDGETS),
        "can_edit_rules": request.user.has_perm(CHANGE_RULES),
        "can_set_webhook": abilities(request).manage_endpoints,
        "budget_form": {"warn_at_percent": "80", "period": "monthly", "action": "warn"},
        "rule_form": {"window_minutes": "15", "metric": "failure_rate"},
        **extra,
    }


def _answer(request: HttpRequest, message: str, **extra: Any) -> HttpResponse:
    """After a change: the page's body for HTMX (with a toast), else back to the page."""
    if request.htmx:
        response = render(request, f"{TEMPLATE}#budgets_body", _context(request, **extra))
        return toast(response, message)
    flash(request, message)
    return redirect("budgets")


def _refused(request: HttpRequest, error: ValidationError, **extra: Any) -> HttpResponse:
    """Bad input: the form again with what was typed and the reason; nothing saved."""
    name = f"{TEMPLATE}#budgets_body" if request.htmx else TEMPLATE
    context = _context(request, error=" ".join(error.messages), **extra)
    return render(request, name, context, status=INVALID)


def _webhook(request: HttpRequest) -> str | None:
    # Absent (editors have no such field): keep the current one.
    return request.POST.get("webhook_url") if "webhook_url" in request.POST else None


@require_http_methods(["GET", "POST"])
def budgets(request: HttpRequest) -> HttpResponse:
    """The page; POST creates or changes a budget."""
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    if not request.user.has_perm(CHANGE_BUDGETS):
        raise PermissionDenied(f"You need the '{CHANGE_BUDGETS}' permission to change budgets.")
    form = {name: request.POST.get(name, "").strip() for name in BUDGET_FIELDS}
    try:
        save_budget(
            **{k: v for k, v in form.items() if k in ("task", "period", "action", "email_to")},
            amount_usd=form["amount_usd"],
            warn_at_percent=form["warn_at_percent"] or 80,
            webhook_url=_webhook(request),
            channel=Channel.UI,
            user=request.user,
        )
    except ValidationError as error:
        return _refused(request, error, budget_form=form)
    return _answer(request, f"Saved the budget of {form['task'] or 'all tasks (overall)'}.")


@post_with_permission("aiconfig.delete_budget")
def budget_delete(request: HttpRequest) -> HttpResponse:
    """Remove a budget."""
    task = request.POST.get("task", "").strip()
    try:
        delete_budget(task=task, channel=Channel.UI, user=request.user)
    except ValidationError as error:
        return _refused(request, error)
    return _answer(request, f"Deleted the budget of {task or 'all tasks (overall)'}.")


@post_with_permission(CHANGE_RULES)
def alert_rule_save(request: HttpRequest) -> HttpResponse:
    """Create or change an alert rule."""
    form = {name: request.POST.get(name, "").strip() for name in RULE_FIELDS}
    try:
        save_alert_rule(
            name=form["name"],
            task=form["task"],
            metric=form["metric"],
            threshold=form["threshold"],
            window_minutes=form["window_minutes"] or 15,
            email_to=form["email_to"],
            webhook_url=_webhook(request),
            channel=Channel.UI,
            user=request.user,
        )
    except ValidationError as error:
        return _refused(request, error, rule_form=form)
    return _answer(request, f"Saved alert rule {form['name']}.")


@post_with_permission("aiconfig.delete_alertrule")
def alert_rule_delete(request: HttpRequest) -> HttpResponse:
    """Remove an alert rule."""
    name = request.POST.get("name", "").strip()
    try:
        delete_alert_rule(name=name, channel=Channel.UI, user=request.user)
    except ValidationError as error:
        return _refused(request, error)
    return _answer(request, f"Deleted alert rule {name}.")
