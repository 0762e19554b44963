"""Database models: providers, their models, task types, assignments, history, call log, prices.

Models hold data only. Every write goes through `aiconfig.services`, which validates,
records the change in `ConfigChange` and so makes it visible to every process.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from aiconfig.enums import CallOutcome, Channel, OutputKind, ProviderKind, Source

__all__ = [
    "CallLog",
    "CallOutcome",
    "Channel",
    "ConfigChange",
    "ModelPrice",
    "OutputKind",
    "Provider",
    "ProviderKind",
    "ProviderModel",
    "Source",
    "TaskAssignment",
    "TaskFallback",
    "TaskType",
]


class Provider(models.Model):
    """An API endpoint that serves models. The key itself never lives here, only its env var."""

    name = models.SlugField(max_length=64, unique=True)
    label = models.CharField(max_length=100, blank=True)
    kind = models.CharField(max_length=32, choices=ProviderKind)
    base_url = models.CharField(
        max_length=500,
        blank=True,
        help_text="Blank means the SDK's public endpoint for this kind.",
    )
    base_url_source = models.CharField(max_length=16, choices=Source, default=Source.DEFAULT)
    api_key_env = models.CharField(
        "API key env var",
        max_length=100,
        blank=True,
        help_text="Name of the environment variable that holds the key, e.g. OPENAI_API_KEY.",
    )
    key_required = models.BooleanField(
        default=True, help_text="Calls fail with 'Provider not initialized' when the key is unset."
    )
    enabled = models.BooleanField(default=True)
    builtin = models.BooleanField(default=False, editable=False)
    self_hosted = models.BooleanField(
        default=False, help_text="Runs on your own hardware: calls cost $0 (e.g. Ollama)."
    )
    pricing_id = models.CharField(
        "price list provider id",
        max_length=64,
        blank=True,
        help_text="Provider id in the bundled genai-prices data; blank means prices come "
        "only from the price table.",
    )
    default_text_model = models.CharField(max_length=200, blank=True)
    default_image_model = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            (
                "manage_endpoints",
                "Can change where provider keys are sent (base URL, key variable)",
            )
        ]

    def __str__(self) -> str:
        return self.name


class ProviderModel(models.Model):
    """A model a provider offers, with what it can do. Assignments may name models not listed."""

    provider = models.ForeignKey(Provider, on_delete=models.CASCADE, related_name="models")
    name = models.CharField(max_length=200)
    supports_text = models.BooleanField("text", default=False)
    supports_image = models.BooleanField("image", default=False)
    supports_structured = models.BooleanField("structured output", default=False)
    supports_tools = models.BooleanField("tool calls", default=False)
    notes = models.CharField(max_length=200, blank=True)
    builtin = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["provider__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["provider", "name"], name="unique_model_per_provider")
        ]

    def __str__(self) -> str:
        return f"{self.provider.name}/{self.name}"


class TaskType(models.Model):
    """A kind of AI work an app asks for (`image`, `text`, ...), with the output it needs."""

    name = models.SlugField(max_length=64, unique=True)
    description = models.CharField(max_length=300, blank=True)
    output_kind = models.CharField(max_length=16, choices=OutputKind, default=OutputKind.TEXT)
    builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class TaskAssignment(models.Model):
    """Which provider and model serve a task first, plus its timeout and retries.

    `provider` is a name rather than a foreign key on purpose: a misspelt provider
    from the environment is stored as written and reported, never swapped for another.
    """

    task = models.OneToOneField(TaskType, on_delete=models.CASCADE, related_name="assignment")
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True)
    model_defaulted = models.BooleanField(
        default=False, help_text="The model was not given, so the provider's default was used."
    )
    timeout_seconds = models.FloatField(default=60.0)
    max_retries = models.PositiveSmallIntegerField(default=0)
    total_timeout_seconds = models.FloatField(
        null=True,
        blank=True,
        help_text="Wall-clock limit for a whole call, fallbacks included; blank: none.",
    )
    source = models.CharField(max_length=16, choices=Source, default=Source.DEFAULT)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["task__name"]
        permissions = [("run_task", "Can run tasks and test providers from the dashboard")]

    def __str__(self) -> str:
        return f"{self.task.name}: {self.provider}/{self.model}"


class TaskFallback(models.Model):
    """One step of a task's ordered fallback chain."""

    assignment = models.ForeignKey(
        TaskAssignment, on_delete=models.CASCADE, related_name="fallbacks"
    )
    position = models.PositiveSmallIntegerField(default=0)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200, blank=True)
    model_defaulted = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source, default=Source.DEFAULT)

    class Meta:
        ordering = ["assignment", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["assignment", "position"], name="unique_fallback_position"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


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


class CallLog(models.Model):
    """One attempt at one provider for one call; attempts of a call share `request_id`."""

    request_id = models.UUIDField(default=uuid.uuid4, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    task = models.CharField(max_length=64, db_index=True)
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
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    prompt = models.TextField(blank=True)
    response = models.TextField(blank=True)
    # The API token's name for calls made through the HTTP gateway (/v1/), else blank.
    api_token = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["task", "created_at"], name="calllog_task_time"),
            models.Index(fields=["api_token", "created_at"], name="calllog_token_time"),
        ]

    def __str__(self) -> str:
        return f"{self.task} {self.provider}/{self.model} #{self.attempt} {self.outcome}"


class ModelPrice(models.Model):
    """A price that overrides the bundled price data for one provider's model.

    Token prices are USD per million tokens. An image price applies to one size and
    quality, or to any when those are blank.
    """

    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    input_per_million = models.DecimalField(
        "input $/1M tokens", max_digits=12, decimal_places=6, null=True, blank=True
    )
    output_per_million = models.DecimalField(
        "output $/1M tokens", max_digits=12, decimal_places=6, null=True, blank=True
    )
    per_image = models.DecimalField(
        "$ per image", max_digits=12, decimal_places=6, null=True, blank=True
    )
    cached_input_per_million = models.DecimalField(
        "cached input $/1M tokens",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Cache reads. Blank: the input price.",
    )
    cache_write_per_million = models.DecimalField(
        "cache write $/1M tokens",
        max_digits=12,
        decimal_places=6,
        null=True,
        blank=True,
        help_text="Tokens written to the prompt cache. Blank: the input price.",
    )
    image_size = models.CharField(max_length=32, blank=True, help_text="Blank: any size.")
    image_quality = models.CharField(max_length=32, blank=True, help_text="Blank: any quality.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["provider", "model", "image_size", "image_quality"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "model", "image_size", "image_quality"],
                name="unique_model_price",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


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


# The latency histogram of `UsageRollup`: bucket 0 holds latencies under 1 ms, bucket
# k (1..LATENCY_BUCKETS-1) those in [2^((k-1)/8), 2^(k/8)) ms, the last one everything
# from ~16 minutes up. A bucket spans 9%, so a percentile read at its geometric middle
# is within 4.5% of the exact value.
LATENCY_BUCKETS = 161
LATENCY_STEPS_PER_DOUBLING = 8


class UsageRollup(models.Model):
    """The call log summed per hour, task, operation, provider, model, outcome and source.

    Written in the same transaction as the call-log rows it sums (see
    `aiconfig.services.calls.log`), so reports read a few thousand rows instead of
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
    # Database defaults: the upsert names only the columns a row adds to.
    attempts = models.BigIntegerField(default=0, db_default=0)
    calls = models.BigIntegerField(default=0, db_default=0, help_text="First attempts.")
    fallbacks = models.BigIntegerField(default=0, db_default=0)
    errors = models.BigIntegerField(default=0, db_default=0)
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
                fields=["hour", "task", "operation", "provider", "model", "outcome", "source"],
                name="usage_rollup_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H:00} {self.task} {self.provider}/{self.model} {self.outcome}"


for _bucket in range(LATENCY_BUCKETS):
    UsageRollup.add_to_class(f"lat_{_bucket:03d}", models.IntegerField(default=0, db_default=0))
del _bucket


class ApiToken(models.Model):
    """A bearer token for the HTTP gateway (/v1/). Only the sha256 of the secret is stored.

    The secret is shown once, when created; `prefix` (its first characters) is what
    lists show so people can tell tokens apart. Blank `tasks` means every task.
    `window_start`/`window_count` are the rate limit's per-minute counter, kept in the
    row so every worker process shares it.
    """

    name = models.SlugField(max_length=64, unique=True)
    prefix = models.CharField(max_length=16)
    secret_hash = models.CharField(max_length=64, unique=True)
    tasks = models.JSONField(default=list, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    monthly_budget_usd = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True)
    window_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_tokens", "Can create, list and revoke API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def revoked(self) -> bool:
        """True once the token has been revoked."""
        return self.revoked_at is not None
