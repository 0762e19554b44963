"""The usage rollup: the call log summed per hour, with a latency histogram."""

from __future__ import annotations

from django.db import models

from aiconfig.enums import CallOutcome, Channel

# The latency histogram of `UsageRollup`: bucket 0 holds latencies under 1 ms, bucket
# k (1..LATENCY_BUCKETS-1) those in [2^((k-1)/8), 2^(k/8)) ms, the last one everything
# from ~16 minutes up. A bucket spans 9%, so a percentile read at its geometric middle
# is within 4.5% of the exact value.
LATENCY_BUCKETS = 161
LATENCY_STEPS_PER_DOUBLING = 8


class UsageRollup(models.Model):
    """The call log summed per hour, task, operation, provider, model, outcome, source,
    user and API token.

    Written in the same transaction as the call-log rows it sums (see
    `aiconfig.services.calls.log_insert`), so reports read a few thousand rows instead of
    millions. The call log stays the source of truth: `ai_usage rebuild` recomputes
    this table from it, and `manage.py check` warns when the two disagree.
    """

    hour = models.DateTimeField()
    task = models.CharField(max_length=64)
    operation = models.CharField(max_length=16)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    outcome = models.CharField(max_length=16, choices=CallOutcome)
    source = models.CharField(max_length=16, choices=Channel)
    # Who called: plain values, not foreign keys, so the unique key holds no NULLs (which
    # never compare equal, and would split one key over many rows) and deleting a user
    # keeps their history. 0: no user; '': not through an API token.
    user_id = models.BigIntegerField(default=0, db_default=0)
    api_token = models.CharField(max_length=64, blank=True, default="", db_default="")
    # Database defaults: the upsert names only the columns a row adds to.
    attempts = models.BigIntegerField(default=0, db_default=0)
    calls = models.BigIntegerField(default=0, db_default=0, help_text="First attempts.")
    fallbacks = models.BigIntegerField(default=0, db_default=0)
    errors = models.BigIntegerField(default=0, db_default=0, help_text="Attempts that failed.")
    failed_calls = models.BigIntegerField(
        default=0, db_default=0, help_text="Calls whose last attempt failed: the user got an error."
    )
    input_tokens = models.BigIntegerField(default=0, db_default=0)
    output_tokens = models.BigIntegerField(default=0, db_default=0)
    cache_read_tokens = models.BigIntegerField(default=0, db_default=0)
    cache_write_tokens = models.BigIntegerField(default=0, db_default=0)
    reasoning_tokens = models.BigIntegerField(default=0, db_default=0)
    images = models.BigIntegerField(default=0, db_default=0)
    # In units of 1e-8 USD (the call log's precision): integer sums are exact on every
    # backend, where SQLite would add decimals as floating point.
    cost_e8 = models.BigIntegerField(default=0, db_default=0)
    priced = models.BigIntegerField(default=0, db_default=0)
    unpriced = models.BigIntegerField(default=0, db_default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "hour",
                    "task",
                    "operation",
                    "provider",
                    "model",
                    "outcome",
                    "source",
                    "user_id",
                    "api_token",
                ],
                name="usage_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.task} {self.provider}/{self.model} {self.outcome}"


for _bucket in range(LATENCY_BUCKETS):
    UsageRollup.add_to_class(f"lat_{_bucket:03d}", models.IntegerField(default=0, db_default=0))
del _bucket
