"""Saved playground runs."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class PlaygroundRun(models.Model):
    """One playground run: its inputs, each column's settings and outcome, who ran it, when.

    `columns` holds one entry per column, in page order: what it ran (a task's chain,
    or one provider/model directly) and what came back (text or error in words,
    attempts, time to first token, latency, tokens, cost). Kept as JSON so a run can
    be reopened and exported exactly as it was shown, whatever the configuration now.
    """

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        FINISHED = "finished", "Finished"
        STOPPED = "stopped", "Stopped"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    prompt = models.TextField()
    system = models.TextField(blank=True)
    temperature = models.FloatField(null=True, blank=True)
    max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Structured output: every column must answer JSON valid against this schema.
    json_schema = models.JSONField(null=True, blank=True)
    # Chat with tools: the tool definitions offered to every column.
    tools = models.JSONField(null=True, blank=True)
    columns = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"playground run #{self.pk}"
