"""The call log: one row per attempt at a provider."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from aiconfig.enums import CallOutcome, Channel


class CallLog(models.Model):
    """One attempt at one provider for one call; attempts of a call share `request_id`."""

    request_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    # Indexed by `calllog_time` below, with `id` as the tie-breaker keyset pages need.
    created_at = models.DateTimeField(default=timezone.now)
    # Indexed by `calllog_task_time` (task first); a second index would only slow inserts.
    task = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    response_model = models.CharField(max_length=200, blank=True)
    attempt = models.PositiveSmallIntegerField()
    is_fallback = models.BooleanField(default=False)
    outcome = models.CharField(max_length=16, choices=CallOutcome)
    error_kind = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    latency_ms = models.FloatField()
    input_tokens = models.PositiveIntegerField(null=True, blank=True)
    output_tokens = models.PositiveIntegerField(null=True, blank=True)
    image_count = models.PositiveIntegerField(default=0)
    # Parts of input_tokens (cache reads/writes) and of output_tokens (reasoning); see
    # adapters.Usage for the convention. Null when the provider did not report them.
    cache_read_tokens = models.PositiveIntegerField(null=True, blank=True)
    cache_write_tokens = models.PositiveIntegerField(null=True, blank=True)
    reasoning_tokens = models.PositiveIntegerField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    source = models.CharField(max_length=16, choices=Channel, default=Channel.CODE)
    # Indexed by `calllog_user_time` (user first), which also serves SET_NULL on delete.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_index=False,
    )
    prompt = models.TextField(blank=True)
    response = models.TextField(blank=True)
    # The API token's name for calls made through the HTTP gateway (/v1/), else blank.
    api_token = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        # Each serves a filter of the call explorer, the reports' partial hours and the
        # prune, walking in time order (README "Call explorer" says which serves what).
        indexes = [
            models.Index(fields=["created_at", "id"], name="calllog_time"),
            models.Index(fields=["task", "created_at"], name="calllog_task_time"),
            models.Index(fields=["api_token", "created_at"], name="calllog_token_time"),
            models.Index(fields=["provider", "model", "created_at"], name="calllog_route_time"),
            models.Index(fields=["outcome", "created_at"], name="calllog_outcome_time"),
            models.Index(fields=["user", "created_at"], name="calllog_user_time"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.provider}/{self.model} #{self.attempt} {self.outcome}"
