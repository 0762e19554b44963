"""Budgets and alert rules: create, change, delete, each recorded in the change history.

A recorded change moves the configuration version, which is how every process's
budget gate learns of a new or changed budget on its next call (see
`aiconfig.selectors.budgets`). A webhook URL receives usage data, so setting or
changing one needs the endpoint permission, like a provider's base URL.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import transaction

from aiconfig.endpoints import base_url_problem, can_manage_endpoints
from aiconfig.enums import AlertMetric, BudgetAction, BudgetPeriod, Channel
from aiconfig.models import AlertRule, Budget, ConfigChange
from aiconfig.selectors import config_snapshot
from aiconfig.services.history import State, User, record_change

OVERALL_NAME = "(overall)"  # the history's name for the overall budget
MAX_BUDGET = Decimal("1e9")
_RULE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def budget_state(row: Budget) -> State:
    """A budget as JSON-ready data (the amount as a string, so it survives JSON)."""
    return {
        "task": row.task,
        "amount_usd": f"{Decimal(row.amount_usd).normalize():f}",
        "period": row.period,
        "warn_at_percent": row.warn_at_percent,
        "action": row.action,
        "email_to": row.email_to,
        "webhook_url": row.webhook_url,
    }


def rule_state(row: AlertRule) -> State:
    """An alert rule as JSON-ready data."""
    return {
        "task": row.task,
        "metric": row.metric,
        "threshold": row.threshold,
        "window_minutes": row.window_minutes,
        "email_to": row.email_to,
        "webhook_url": row.webhook_url,
    }


def _known_task(task: str) -> str:
    task = task.strip()
    known = config_snapshot().tasks
    if task and task not in known:
        raise ValidationError(
            {"task": [f"Unknown task '{task}'. Known tasks: {', '.join(sorted(known))}."]}
        )
    return task


def _choice(field: str, value: str, choices: Any) -> str:
    if value not in choices.values:
        allowed = ", ".join(choices.values)
        raise ValidationError({field: [f"'{value}' is not one of: {allowed}."]})
    return value


def _emails(value: str) -> str:
    addresses = [a.strip() for a in re.split(r"[,;\s]+", value or "") if a.strip()]
    for address in addresses:
        try:
            validate_email(address)
        except ValidationError:
            raise ValidationError({"email_to": [f"'{address}' is not an email address."]}) from None
    return ", ".join(addresses)


def _webhook(value: str, *, before: str, user: User, owner: str) -> str:
    url = (value or "").strip()
    if url == before:
        return url
    if not can_manage_endpoints(user):
        raise PermissionDenied(
            f"A webhook URL receives usage data, so setting the one of {owner} needs the "
            "'manage endpoints' permission (group \"AI endpoint admins\"). Ask an endpoint "
            "admin, or leave the webhook as it is."
        )
    if not url:
        return url
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"webhook_url": [f"'{url}' is not an http(s) URL."]}) from None
    problem = base_url_problem(url)
    if problem:
        raise ValidationError({"webhook_url": [problem]})
    return url


def _number(field: str, raw: object, *, what: str) -> Decimal:
    try:
        value = Decimal(str(raw).strip().lstrip("$"))
    except InvalidOperation:
        raise ValidationError({field: [f"'{raw}' is not {what}."]}) from None
    if not value.is_finite():
        raise ValidationError({field: [f"'{raw}' is not {what}."]})
    return value


def save_budget(
    *,
    task: str = "",
    amount_usd: Decimal | str | float,
    period: str = BudgetPeriod.MONTHLY,
    warn_at_percent: int | str = 80,
    action: str = BudgetAction.WARN,
    email_to: str = "",
    webhook_url: str | None = None,
    channel: str = Channel.CODE,
    user: User = None,
) -> Budget:
    """Create or change the budget of `task` (blank: the overall budget).

    `webhook_url=None` keeps the current one (editors without the endpoint permission
    can change everything else).
    """
    task = _known_task(task)
    amount = _number("amount_usd", amount_usd, what="a number of USD")
    if amount < Decimal("0.01") or amount >= MAX_BUDGET:
        raise ValidationError({"amount_usd": ["A budget is from $0.01 to below $1,000,000,000."]})
    warn = int(_number("warn_at_percent", warn_at_percent, what="a percentage"))
    if not 1 <= warn <= 100:
        raise ValidationError({"warn_at_percent": ["The warning threshold is from 1 to 100 %."]})
    with transaction.atomic():
        row = Budget.objects.select_for_update().filter(task=task).first()
        before = budget_state(row) if row else None
        row = row or Budget(task=task)
        owner = f"the budget of task '{task}'" if task else "the overall budget"
        row.amount_usd = amount.quantize(Decimal("1e-8"))
        row.period = _choice("period", period, BudgetPeriod)
        row.warn_at_percent = warn
        row.action = _choice("action", action, BudgetAction)
        row.email_to = _emails(email_to)
        if webhook_url is not None:
            row.webhook_url = _webhook(webhook_url, before=row.webhook_url, user=user, owner=owner)
        row.save()
        after = budget_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.BUDGET,
                target_name=task or OVERALL_NAME,
                before=before,
                after=after,
                channel=channel,
                user=user,
            )
    return row


def delete_budget(*, task: str = "", channel: str = Channel.CODE, user: User = None) -> None:
    """Remove the budget of `task` (blank: the overall one)."""
    with transaction.atomic():
        row = Budget.objects.select_for_update().filter(task=task.strip()).first()
        if row is None:
            what = f"task '{task}'" if task else "overall"
            raise ValidationError(f"No budget for {what}.")
        before = budget_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.BUDGET,
            target_name=row.task or OVERALL_NAME,
            before=before,
            after=None,
            channel=channel,
            user=user,
        )


def save_alert_rule(
    *,
    name: str,
    metric: str,
    threshold: float | str,
    window_minutes: int | str = 15,
    task: str = "",
    email_to: str = "",
    webhook_url: str | None = None,
    channel: str = Channel.CODE,
    user: User = None,
) -> AlertRule:
    """Create or change an alert rule: `metric` above `threshold` over the last N minutes."""
    name = name.strip()
    if not _RULE_NAME_RE.match(name):
        raise ValidationError(
            {"name": ["Use lower-case letters, digits, '-' and '_' (at most 64) for the name."]}
        )
    task = _known_task(task)
    metric = _choice("metric", metric, AlertMetric)
    value = _number("threshold", threshold, what="a number")
    if value <= 0 or (metric == AlertMetric.FAILURE_RATE and value > 100):
        raise ValidationError(
            {"threshold": ["A failure rate is from 0 to 100 %; a latency above 0 ms."]}
        )
    window = int(_number("window_minutes", window_minutes, what="a number of minutes"))
    if not 1 <= window <= 24 * 60:
        raise ValidationError({"window_minutes": ["The window is from 1 to 1440 minutes."]})
    with transaction.atomic():
        row = AlertRule.objects.select_for_update().filter(name=name).first()
        before = rule_state(row) if row else None
        row = row or AlertRule(name=name)
        row.task, row.metric, row.threshold, row.window_minutes = task, metric, float(value), window
        row.email_to = _emails(email_to)
        if webhook_url is not None:
            owner = f"alert rule '{name}'"
            row.webhook_url = _webhook(webhook_url, before=row.webhook_url, user=user, owner=owner)
        row.save()
        after = rule_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.ALERT,
                target_name=name,
                before=before,
                after=after,
                channel=channel,
                user=user,
            )
    return row


def delete_alert_rule(*, name: str, channel: str = Channel.CODE, user: User = None) -> None:
    """Remove an alert rule."""
    with transaction.atomic():
        row = AlertRule.objects.select_for_update().filter(name=name).first()
        if row is None:
            raise ValidationError(f"No alert rule named '{name}'.")
        before = rule_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.ALERT,
            target_name=name,
            before=before,
            after=None,
            channel=channel,
            user=user,
        )
