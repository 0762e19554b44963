"""Budgets, alert rules, and the alerts sent for them (one per threshold per period)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from aiconfig.enums import AlertKind, AlertMetric, BudgetAction, BudgetPeriod


class Budget(models.Model):
    """A spending limit in USD per period, for one task or (task blank) for all calls."""

    task = models.CharField(max_length=64, unique=True, blank=True, help_text="Blank: overall.")
    amount_usd = models.DecimalField(max_digits=14, decimal_places=8)
    period = models.CharField(max_length=16, choices=BudgetPeriod, default=BudgetPeriod.MONTHLY)
    warn_at_percent = models.PositiveSmallIntegerField(default=80)
    action = models.CharField(max_length=16, choices=BudgetAction, default=BudgetAction.WARN)
    # Where alerts go: comma-separated addresses (Django's mail settings) and/or a URL.
    email_to = models.CharField(max_length=1000, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task"]

    def __str__(self) -> str:
        return f"{self.task or 'overall'}: ${self.amount_usd:f}/{self.period}"


class AlertRule(models.Model):
    """Alert when a metric goes above a threshold over the last N minutes."""

    name = models.CharField(max_length=64, unique=True)
    task = models.CharField(max_length=64, blank=True, help_text="Blank: every task.")
    metric = models.CharField(max_length=16, choices=AlertMetric)
    threshold = models.FloatField()
    window_minutes = models.PositiveIntegerField(default=15)
    email_to = models.CharField(max_length=1000, blank=True)
    webhook_url = models.URLField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class SentAlert(models.Model):
    """An alert sent: at most one per kind, subject and period (or rule window)."""

    kind = models.CharField(max_length=16, choices=AlertKind)
    # The budget's task ("" overall) or the rule's name.
    subject = models.CharField(max_length=64)
    period_start = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    message = models.CharField(max_length=1000)
    # Which channels took it, or why one did not ("email: ...; webhook: HTTP 500").
    delivery = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "subject", "period_start"], name="sent_alert_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} {self.period_start:%Y-%m-%d %H:%M}"
