"""Budgets read: their periods, what has been spent, and the per-process gate the calls ask.

Spend comes from the usage rollup, which is written in the same transaction as the
call log, so summing its `cost_e8` since a period's first hour is exact and reads a
few rows per hour rather than every call. Periods are calendar periods in UTC (weeks
start on Monday), so they always begin on a whole hour of the rollup.

The gate (`refresh_budget_gate`, `stopping_budget`) keeps the call path cheap: the list
of budgets is read once per configuration version (budget edits are recorded changes,
so they move the version), and the spend at most once per
`AICONFIG_BUDGET_CACHE_SECONDS` per process. With no budget configured a call costs a
dictionary lookup and no query.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from aiconfig.enums import BudgetAction, BudgetPeriod
from aiconfig.models import Budget, UsageRollup
from aiconfig.snapshots import ConfigSnapshot

COST_UNITS = Decimal(100_000_000)  # the rollup keeps cost in 1e-8 USD
_MEMO_KEY = ("budgets",)
OVERALL = ""  # the task of the overall budget


def now_utc() -> datetime:
    """The current time (tests shift it to roll a period over)."""
    return timezone.now()


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    """The current period's first instant and the next one's, in UTC."""
    now = (now or now_utc()).astimezone(UTC)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == BudgetPeriod.DAILY:
        return day, day + timedelta(days=1)
    if period == BudgetPeriod.WEEKLY:
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    start = day.replace(day=1)
    return start, (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def spend_by_task(*, since: datetime) -> dict[str, Decimal]:
    """USD spent per task since `since` (a whole hour), plus the total under `OVERALL`."""
    rows = (
        UsageRollup.objects.filter(hour__gte=since)
        .values("task")
        .annotate(cost=Sum("cost_e8"))
        .values_list("task", "cost")
    )
    spent = {task: Decimal(cost or 0) / COST_UNITS for task, cost in rows}
    spent[OVERALL] = sum(spent.values(), Decimal(0))
    return spent


@dataclass(frozen=True, slots=True)
class BudgetRule:
    """A budget as the gate and the reports see it (no database row attached)."""

    task: str
    amount_usd: Decimal
    period: str
    warn_at_percent: int
    action: str
    email_to: str
    webhook_url: str

    @property
    def label(self) -> str:
        """`task 'text'` or `overall`."""
        return f"task '{self.task}'" if self.task else "overall"

    @property
    def description(self) -> str:
        """`the monthly budget of task 'text'`, `the daily overall budget`."""
        if self.task:
            return f"the {self.period} budget of task '{self.task}'"
        return f"the {self.period} overall budget"

    @classmethod
    def of(cls, row: Budget) -> BudgetRule:
        """The rule for a stored budget."""
        return cls(
            task=row.task,
            amount_usd=row.amount_usd,
            period=row.period,
            warn_at_percent=row.warn_at_percent,
            action=row.action,
            email_to=row.email_to,
            webhook_url=row.webhook_url,
        )


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A budget with what its period has spent so far."""

    budget: BudgetRule
    spent_usd: Decimal
    period_start: datetime
    resets_at: datetime

    @property
    def percent(self) -> float:
        """Spent as a share of the budget, in %."""
        return float(self.spent_usd / self.budget.amount_usd * 100)

    @property
    def exceeded(self) -> bool:
        """The whole budget is spent."""
        return self.spent_usd >= self.budget.amount_usd

    @property
    def warning(self) -> bool:
        """Over the warning threshold (and not yet exceeded)."""
        return not self.exceeded and self.percent >= self.budget.warn_at_percent

    @property
    def state(self) -> str:
        """`ok`, `warning` or `exceeded` (the badge a page shows)."""
        return "exceeded" if self.exceeded else "warning" if self.warning else "ok"

    @property
    def stops_calls(self) -> bool:
        """An exceeded `stop` budget: the task's calls fail before any request."""
        return self.exceeded and self.budget.action == BudgetAction.STOP


def list_budgets() -> list[BudgetRule]:
    """Every budget, the overall one first."""
    return [BudgetRule.of(row) for row in Budget.objects.order_by("task")]


def budget_statuses(*, now: datetime | None = None, task: str | None = None) -> list[BudgetStatus]:
    """Each budget (or those applying to `task`: its own and the overall one) with its spend."""
    budgets = list_budgets()
    if task is not None:
        budgets = [b for b in budgets if b.task in (OVERALL, task)]
    spent_since: dict[datetime, dict[str, Decimal]] = {}
    statuses = []
    for budget in budgets:
        start, end = period_bounds(budget.period, now)
        if start not in spent_since:
            spent_since[start] = spend_by_task(since=start)
        spent = spent_since[start].get(budget.task, Decimal(0))
        statuses.append(BudgetStatus(budget, spent, start, end))
    return statuses


# --- the gate: asked on every call, so it reads memory, not the database ---------------


@dataclass(slots=True)
class _SpendCache:
    """Spend per (period start, task), read at `read_at` (time.monotonic())."""

    read_at: float
    spent: dict[datetime, dict[str, Decimal]]


_spend: dict[str, _SpendCache] = {}
_spend_lock = threading.Lock()


def _stop_budgets(snapshot: ConfigSnapshot) -> tuple[BudgetRule, ...]:
    budgets = snapshot.memo.get(_MEMO_KEY)
    if budgets is None:
        rows = Budget.objects.filter(action=BudgetAction.STOP)
        budgets = tuple(BudgetRule.of(row) for row in rows)
        snapshot.memo[_MEMO_KEY] = budgets
    return budgets  # type: ignore[return-value]


def budget_gate_fresh(snapshot: ConfigSnapshot) -> bool:
    """True when `refresh_budget_gate` has nothing to read (memory only, for async callers).

    The `stop` budgets of this configuration version are known, and none of their
    periods' spend is missing or older than `AICONFIG_BUDGET_CACHE_SECONDS`.
    """
    budgets = snapshot.memo.get(_MEMO_KEY)
    if budgets is None:
        return False
    if not budgets:
        return True
    starts = {period_bounds(b.period)[0] for b in budgets}  # type: ignore[attr-defined]
    cached = _spend.get(connection.alias)
    ttl = float(settings.AICONFIG_BUDGET_CACHE_SECONDS)
    return (
        cached is not None
        and time.monotonic() - cached.read_at < ttl
        and starts <= cached.spent.keys()
    )


def refresh_budget_gate(snapshot: ConfigSnapshot) -> None:
    """Before a call (where the database may be read): re-read spend if it is stale.

    Costs nothing without a `stop` budget; with one, a query per period at most every
    `AICONFIG_BUDGET_CACHE_SECONDS`, and when a period rolls over.
    """
    budgets = _stop_budgets(snapshot)
    if budget_gate_fresh(snapshot):
        return
    starts = {period_bounds(b.period)[0] for b in budgets}
    fresh = _SpendCache(time.monotonic(), {start: spend_by_task(since=start) for start in starts})
    with _spend_lock:
        _spend[connection.alias] = fresh


def stopping_budget(snapshot: ConfigSnapshot, task: str) -> BudgetStatus | None:
    """The exceeded `stop` budget that blocks `task`'s calls, if any (memory only)."""
    budgets = snapshot.memo.get(_MEMO_KEY)
    if not budgets:
        return None
    cached = _spend.get(connection.alias)
    if cached is None:
        return None
    for budget in budgets:  # type: ignore[attr-defined]
        if budget.task not in (OVERALL, task):
            continue
        start, end = period_bounds(budget.period)
        spent = cached.spent.get(start, {}).get(budget.task, Decimal(0))
        if spent >= budget.amount_usd:
            return BudgetStatus(budget, spent, start, end)
    return None


def note_spend(task: str, cost: Decimal | None) -> None:
    """Add a call's cost to this process's cached spend, so its own next call sees it."""
    if not cost or not _spend:
        return
    cached = _spend.get(connection.alias)
    if cached is None:
        return
    with _spend_lock:
        for spent in cached.spent.values():
            spent[task] = spent.get(task, Decimal(0)) + cost
            spent[OVERALL] = spent.get(OVERALL, Decimal(0)) + cost


def clear_budget_cache() -> None:
    """Forget cached spend (tests, and after a rebuild of the rollup)."""
    with _spend_lock:
        _spend.clear()
