"""The change history: one row per configuration change, its id the configuration version."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from aiconfig.enums import Channel


class ConfigChange(models.Model):
    """One configuration change with its before/after snapshots.

    The newest id doubles as the configuration version: every process compares it
    with what it cached to know, with one cheap query, whether to reload.
    """

    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    class Target(models.TextChoices):
        TASK = "task", "Task"
        PROVIDER = "provider", "Provider"
        MODEL = "model", "Model"
        PRICE = "price", "Price"
        # A prune of old call-log rows: recorded so the audit trail shows who removed what.
        CALLLOG = "calllog", "Call log"
        BUDGET = "budget", "Budget"
        ALERT = "alert", "Alert rule"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    channel = models.CharField(max_length=16, choices=Channel)
    target_type = models.CharField(max_length=16, choices=Target)
    target_name = models.CharField(max_length=300)
    action = models.CharField(max_length=16, choices=Action)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    summary = models.CharField(max_length=500, blank=True)
    reverts = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reverted_by"
    )

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} {self.target_type} {self.target_name}"
