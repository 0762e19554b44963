"""Alert rules read: what each one's metric is over its window, and the alerts sent.

A rule's window is minutes, finer than the rollup's hours, so it reads the call log:
its `created_at` (and `task, created_at`) indexes keep that to the window's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from aiconfig.enums import AlertMetric, CallOutcome
from aiconfig.models import AlertRule, CallLog, SentAlert
from aiconfig.selectors import budgets as budget_reads
from aiconfig.selectors.usage import FAILED_OUTCOMES, percentile

# Fewer attempts than this in a window say too little to alert on.
MIN_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class RuleReading:
    """A rule's metric over its window, and the window (aligned, so one alert per window)."""

    rule: AlertRule
    attempts: int
    value: float | None  # % failed, or p95 ms; None: no data
    window_start: datetime

    @property
    def firing(self) -> bool:
        """Enough attempts, and the metric above the threshold."""
        return (
            self.attempts >= MIN_ATTEMPTS
            and self.value is not None
            and self.value > self.rule.threshold
        )

    @property
    def shown(self) -> str:
        """The value in words: `12.5%`, `840 ms`, `no calls`."""
        if self.value is None:
            return "no calls"
        if self.rule.metric == AlertMetric.FAILURE_RATE:
            return f"{self.value:.1f}%"
        return f"{self.value:.0f} ms"


def window_start(minutes: int, now: datetime) -> datetime:
    """The start of the aligned window of `minutes` holding `now` (UTC, from midnight)."""
    now = now.astimezone(UTC)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((now - midnight).total_seconds() // 60)
    return midnight + timedelta(minutes=elapsed - elapsed % minutes)


def read_rule(rule: AlertRule, *, now: datetime | None = None) -> RuleReading:
    """The rule's metric over the last `window_minutes` (the log's attempts, not cancelled)."""
    now = now or budget_reads.now_utc()
    rows = CallLog.objects.filter(
        created_at__gt=now - timedelta(minutes=rule.window_minutes), created_at__lte=now
    ).exclude(outcome=CallOutcome.CANCELLED)
    if rule.task:
        rows = rows.filter(task=rule.task)
    if rule.metric == AlertMetric.FAILURE_RATE:
        outcomes = list(rows.values_list("outcome", flat=True))
        failed = sum(1 for o in outcomes if o in FAILED_OUTCOMES)
        value = failed * 100 / len(outcomes) if outcomes else None
        attempts = len(outcomes)
    else:
        latencies = sorted(
            rows.filter(outcome=CallOutcome.SUCCESS).values_list("latency_ms", flat=True)
        )
        value = percentile(latencies, 0.95)
        attempts = len(latencies)
    return RuleReading(rule, attempts, value, window_start(rule.window_minutes, now))


def list_alert_rules() -> list[AlertRule]:
    """Every alert rule, by name."""
    return list(AlertRule.objects.order_by("name"))


def recent_alerts(*, limit: int = 20) -> list[SentAlert]:
    """The alerts sent last, newest first."""
    return list(SentAlert.objects.order_by("-created_at", "-id")[:limit])
