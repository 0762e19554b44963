"""Alerts: find the budgets and rules over their thresholds, and tell people once.

Each alert is claimed by inserting its `SentAlert` row first (unique per kind,
subject and period or rule window), then sent: two processes checking at once send
it once, and a budget warns once per threshold per period. A delivery that fails is
noted on the row and not retried (the Budgets page and `ai_alerts check` show it).

Alerts go by email (Django's mail settings) and/or as a JSON POST to a webhook. What
they carry is the budget or rule and the figures: never a key, prompt or response.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx
from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connections, transaction

from aiconfig.endpoints import base_url_problem
from aiconfig.enums import AlertKind, AlertMetric
from aiconfig.formatting import usd
from aiconfig.models import AlertRule, Budget, SentAlert
from aiconfig.selectors import budgets as budget_reads
from aiconfig.selectors.alerts import list_alert_rules, read_rule
from aiconfig.selectors.budgets import BudgetStatus, budget_statuses

logger = logging.getLogger("aiconfig.alerts")


@dataclass(frozen=True, slots=True)
class DueAlert:
    """An alert whose threshold is crossed: what to say, to whom, and its once-key."""

    kind: str
    subject: str
    period_start: datetime
    message: str
    email_to: str
    webhook_url: str
    details: dict[str, Any] = field(default_factory=dict)


def _budget_alert(status: BudgetStatus) -> DueAlert | None:
    budget = status.budget
    if status.exceeded:
        kind = AlertKind.BUDGET_EXCEEDED
        then = (
            "calls are stopped until it resets"
            if status.stops_calls
            else "calls go on (the budget only warns)"
        )
        message = (
            f"Budget exceeded: {budget.description} is spent ({usd(status.spent_usd)} of "
            f"{usd(budget.amount_usd)}); {then} on {status.resets_at:%Y-%m-%d %H:%M} UTC."
        )
    elif status.warning:
        kind = AlertKind.BUDGET_WARNING
        message = (
            f"Budget warning: {budget.description} is {status.percent:.0f}% spent "
            f"({usd(status.spent_usd)} of {usd(budget.amount_usd)}, warning at "
            f"{budget.warn_at_percent}%); it resets on {status.resets_at:%Y-%m-%d %H:%M} UTC."
        )
    else:
        return None
    return DueAlert(
        kind=kind,
        subject=budget.task,
        period_start=status.period_start,
        message=message,
        email_to=budget.email_to,
        webhook_url=budget.webhook_url,
        details={
            "task": budget.task or None,
            "period": budget.period,
            "period_start": status.period_start.isoformat(),
            "resets_at": status.resets_at.isoformat(),
            "amount_usd": f"{budget.amount_usd.normalize():f}",
            "spent_usd": f"{status.spent_usd.normalize():f}",
            "percent": round(status.percent, 1),
            "warn_at_percent": budget.warn_at_percent,
            "action": budget.action,
        },
    )


def _rule_alert(rule: AlertRule, now: datetime) -> DueAlert | None:
    reading = read_rule(rule, now=now)
    if not reading.firing:
        return None
    what = "failure rate" if rule.metric == AlertMetric.FAILURE_RATE else "p95 latency"
    limit = (
        f"{rule.threshold:g}%"
        if rule.metric == AlertMetric.FAILURE_RATE
        else (f"{rule.threshold:g} ms")
    )
    scope = f"task '{rule.task}'" if rule.task else "all tasks"
    message = (
        f"Alert '{rule.name}': the {what} of {scope} over the last {rule.window_minutes} min "
        f"is {reading.shown} (threshold {limit}, {reading.attempts} attempts)."
    )
    return DueAlert(
        kind=AlertKind.RULE,
        subject=rule.name,
        period_start=reading.window_start,
        message=message,
        email_to=rule.email_to,
        webhook_url=rule.webhook_url,
        details={
            "rule": rule.name,
            "task": rule.task or None,
            "metric": rule.metric,
            "value": round(reading.value or 0.0, 3),
            "threshold": rule.threshold,
            "window_minutes": rule.window_minutes,
            "attempts": reading.attempts,
        },
    )


def due_alerts(*, now: datetime | None = None) -> list[DueAlert]:
    """Every budget and rule over its threshold now (sent or not)."""
    now = now or budget_reads.now_utc()
    due = [_budget_alert(status) for status in budget_statuses(now=now)]
    due += [_rule_alert(rule, now) for rule in list_alert_rules()]
    return [alert for alert in due if alert is not None]


def _post(url: str, payload: dict[str, Any]) -> str:
    problem = base_url_problem(url)
    if problem:
        return f"webhook refused: {problem}"
    try:
        response = httpx.post(
            url,
            json=payload,
            timeout=float(settings.AICONFIG_WEBHOOK_TIMEOUT_SECONDS),
            follow_redirects=False,
        )
    except httpx.HTTPError as exc:
        return f"webhook failed: {type(exc).__name__}"
    if response.status_code >= 300:
        return f"webhook failed: HTTP {response.status_code}"
    return "webhook sent"


def _mail(alert: DueAlert) -> str:
    recipients = [a.strip() for a in alert.email_to.split(",") if a.strip()]
    try:
        send_mail(
            subject=f"[aiconfig] {alert.message.split(':')[0]}",
            message=alert.message,
            from_email=None,
            recipient_list=recipients,
        )
    except Exception as exc:  # SMTP, DNS, refused connection: noted, never raised
        return f"email failed: {type(exc).__name__}"
    return f"email sent to {len(recipients)}"


def deliver(alert: DueAlert) -> str:
    """Send an alert on its channels; what happened, in words."""
    done = []
    if alert.email_to:
        done.append(_mail(alert))
    if alert.webhook_url:
        payload = {"kind": alert.kind, "message": alert.message, **alert.details}
        done.append(_post(alert.webhook_url, payload))
    return "; ".join(done) or "no channel: shown on the dashboard only"


def check_alerts(*, now: datetime | None = None) -> list[SentAlert]:
    """Send every due alert not yet sent for its period or window; the alerts sent now."""
    sent = []
    for alert in due_alerts(now=now):
        try:
            with transaction.atomic():
                row = SentAlert.objects.create(
                    kind=alert.kind,
                    subject=alert.subject,
                    period_start=alert.period_start,
                    message=alert.message[:1000],
                )
        except IntegrityError:
            continue  # already sent for this period or window
        row.delivery = deliver(alert)[:1000]
        row.save(update_fields=["delivery"])
        sent.append(row)
    return sent


# --- after calls: at most once per AICONFIG_ALERTS_AFTER_CALLS_SECONDS per process -------

_last_check = float("-inf")
_check_lock = threading.Lock()


def check_alerts_soon() -> None:
    """After a call is logged: check alerts in the background, throttled (nanoseconds else)."""
    global _last_check
    every = float(settings.AICONFIG_ALERTS_AFTER_CALLS_SECONDS)
    now = time.monotonic()
    if every <= 0 or now - _last_check < every:
        return
    with _check_lock:
        if now - _last_check < every:
            return
        _last_check = now
    checker = threading.Thread(target=_check_in_background, name="aiconfig-alerts", daemon=True)
    try:
        checker.start()
    except RuntimeError:  # the interpreter is shutting down; the next process checks
        return


def _check_in_background() -> None:
    try:
        if Budget.objects.exists() or AlertRule.objects.exists():
            check_alerts()
    except Exception:
        logger.exception("Checking alerts after calls failed")
    finally:
        connections.close_all()  # this thread's own connections
