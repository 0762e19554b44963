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
    # Image columns: size, quality and count asked of every image model ("" / None: its default).
    image_size = models.CharField(max_length=16, blank=True)
    image_quality = models.CharField(max_length=16, blank=True)
    image_count = models.PositiveSmallIntegerField(null=True, blank=True)
    # Multi-turn: the earlier turns, oldest first, each {"prompt": …, "answers": [one per
    # column]}; `prompt` is the newest user turn. Each column saw its own answers only.
    turns = models.JSONField(default=list, blank=True)
    columns = models.JSONField(default=list)
    status = models.CharField(max_length=16, choices=Status, default=Status.RUNNING)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"playground run #{self.pk}"


class PlaygroundImage(models.Model):
    """One image a playground column generated: its bytes, kept for showing and download.

    Apart from the run's JSON so a run list never loads megabytes of pictures.
    """

    run = models.ForeignKey(PlaygroundRun, on_delete=models.CASCADE, related_name="images")
    column = models.PositiveSmallIntegerField()
    position = models.PositiveSmallIntegerField()
    mime_type = models.CharField(max_length=64)
    data = models.BinaryField()
    revised_prompt = models.TextField(blank=True)

    class Meta:
        ordering = ["run", "column", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "column", "position"], name="playground_image_unique"
            )
        ]

    def __str__(self) -> str:
        return f"image {self.position + 1} of column {self.column + 1}, run #{self.run_id}"
