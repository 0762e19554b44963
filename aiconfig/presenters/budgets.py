"""Budgets and alerts for the pages: rows with their badge, and each task's badges."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from aiconfig.enums import AlertMetric, BudgetAction
from aiconfig.formatting import usd
from aiconfig.selectors.alerts import RuleReading
from aiconfig.selectors.budgets import BudgetStatus

_PER = {"daily": "today", "weekly": "this week", "monthly": "this month"}
_UNIT = {"daily": "day", "weekly": "week", "monthly": "month"}
_STATE_LABELS = {"ok": "Within budget", "warning": "Warning", "exceeded": "Exceeded"}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    """One budget as the pages show it."""

    status: BudgetStatus

    @property
    def task(self) -> str:
        """The task's name, or "" for the overall budget."""
        return self.status.budget.task

    @property
    def scope(self) -> str:
        """`text` or `All tasks (overall)`."""
        return self.task or "All tasks (overall)"

    @property
    def amount(self) -> str:
        """`$50.00 / month` (whole cents as such; smaller amounts with their digits)."""
        amount = self.status.budget.amount_usd
        shown = f"${amount:,.2f}" if amount == amount.quantize(Decimal("0.01")) else usd(amount)
        return f"{shown} / {_UNIT[self.status.budget.period]}"

    @property
    def spent(self) -> str:
        """`$12.3400 this month (25%)`."""
        status = self.status
        return f"{usd(status.spent_usd)} {_PER[status.budget.period]} ({status.percent:.0f}%)"

    @property
    def state(self) -> str:
        """`ok`, `warning` or `exceeded`: the badge's class."""
        return self.status.state

    @property
    def badge_class(self) -> str:
        """The status class the dashboard already styles."""
        return {"ok": "status-ok", "warning": "status-warning"}.get(self.state, "status-error")

    @property
    def state_label(self) -> str:
        """What the badge says; an exceeded `stop` budget says the calls are stopped."""
        if self.status.stops_calls:
            return "Exceeded: calls stopped"
        return _STATE_LABELS[self.state]

    @property
    def action(self) -> str:
        """`stops calls; warns at 80%`."""
        budget = self.status.budget
        on_exceed = "stops calls" if budget.action == BudgetAction.STOP else "calls go on"
        return f"{on_exceed}; warns at {budget.warn_at_percent}%"

    @property
    def resets(self) -> str:
        """When the period starts again, UTC."""
        return f"{self.status.resets_at:%Y-%m-%d %H:%M} UTC"

    @property
    def channels(self) -> str:
        """Where alerts go (the webhook URL itself is not shown: it may hold a secret)."""
        budget = self.status.budget
        parts = [budget.email_to] if budget.email_to else []
        if budget.webhook_url:
            parts.append("webhook")
        return ", ".join(parts) or "dashboard only"

    @property
    def title(self) -> str:
        """One line for a badge's tooltip."""
        return f"{self.scope}: {self.spent} of {self.amount}; {self.action}; resets {self.resets}"


def budget_rows(statuses: Iterable[BudgetStatus]) -> list[BudgetRow]:
    """Rows for the budgets table, the overall budget first."""
    return [BudgetRow(status) for status in statuses]


def task_budgets(statuses: Sequence[BudgetStatus]) -> dict[str, tuple[BudgetRow, ...]]:
    """For each task with a budget that concerns it: its own, then an overall one over warning.

    The overall budget shows on every card only once it matters (warning or worse).
    """
    rows = budget_rows(statuses)
    overall = tuple(r for r in rows if not r.task and r.state != "ok")
    badges: dict[str, tuple[BudgetRow, ...]] = {}
    for row in rows:
        if row.task:
            badges[row.task] = (row,)
    return {task: own + overall for task, own in badges.items()} | {"*": overall}


def badges_for(badges: dict[str, tuple[BudgetRow, ...]], task: str) -> tuple[BudgetRow, ...]:
    """The badges of one task card."""
    return badges.get(task, badges.get("*", ()))


@dataclass(frozen=True, slots=True)
class RuleRow:
    """An alert rule with its current value."""

    reading: RuleReading

    @property
    def name(self) -> str:
        """The rule's name."""
        return self.reading.rule.name

    @property
    def condition(self) -> str:
        """`Failure rate of text above 5% over 15 min`."""
        rule = self.reading.rule
        what = "Failure rate" if rule.metric == AlertMetric.FAILURE_RATE else "p95 latency"
        unit = "%" if rule.metric == AlertMetric.FAILURE_RATE else " ms"
        scope = rule.task or "all tasks"
        return f"{what} of {scope} above {rule.threshold:g}{unit} over {rule.window_minutes} min"

    @property
    def now(self) -> str:
        """The value now, in words."""
        return f"{self.reading.shown} ({self.reading.attempts} attempts)"

    @property
    def firing(self) -> bool:
        """Over the threshold now."""
        return self.reading.firing
