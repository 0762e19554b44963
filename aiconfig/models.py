"""Database models: providers, their models, task types, assignments, history, call log, prices.

Models hold data only. Every write goes through `aiconfig.services`, which validates,
records the change in `ConfigChange` and so makes it visible to every process.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class OutputKind(models.TextChoices):
    """What a task must produce; decides which model capabilities it needs."""

    TEXT = "text", "Text"
    IMAGE = "image", "Image"
    STRUCTURED = "structured", "Structured JSON"
    TOOLS = "tools", "Chat with tools"


class ProviderKind(models.TextChoices):
    """Which SDK and wire format a provider speaks."""

    OPENAI = "openai", "OpenAI"
    ANTHROPIC = "anthropic", "Anthropic"
    OPENAI_COMPATIBLE = "openai_compatible", "OpenAI-compatible"


class Source(models.TextChoices):
    """Where a configured value came from."""

    ENV = "env", "Environment"
    DEFAULT = "default", "Default"
    EDITED = "edited", "Edited"


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

    def clean(self) -> None:
        """A base URL must be an absolute http(s) URL; the key field holds a variable name."""
        from aiconfig.validation import ENV_VAR_RE, is_valid_base_url

        errors: dict[str, str] = {}
        if self.base_url and not is_valid_base_url(self.base_url.strip()):
            errors["base_url"] = (
                f"'{self.base_url}' is not a valid http(s) URL. Use e.g. https://api.example.com/v1."
            )
        if self.api_key_env and not ENV_VAR_RE.match(self.api_key_env.strip()):
            errors["api_key_env"] = (
                "Enter the name of the environment variable that holds the key "
                "(e.g. MYPROVIDER_API_KEY), never the key itself."
            )
        if errors:
            raise ValidationError(errors)


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

    def clean(self) -> None:
        """The model name follows the shared limits (length, no spaces or control characters)."""
        from aiconfig.validation import check_model_name, raise_for_problems

        raise_for_problems(check_model_name(self.name.strip(), field="name"))


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

    def clean(self) -> None:
        """The primary route, timeout and retries follow the configuration rules."""
        from aiconfig.validation import raise_for_route

        raise_for_route(
            task=self.task,
            provider=self.provider,
            model=self.model,
            position=0,
            timeout_seconds=self.timeout_seconds,
            max_retries=self.max_retries,
            total_timeout_seconds=self.total_timeout_seconds,
        )


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

    def clean(self) -> None:
        """The fallback route follows the configuration rules."""
        from aiconfig.validation import raise_for_route

        raise_for_route(
            task=self.assignment.task,
            provider=self.provider,
            model=self.model,
            position=self.position + 1,
        )


class Channel(models.TextChoices):
    """Where a change or a call came from."""

    UI = "ui", "Dashboard"
    ADMIN = "admin", "Admin"
    CLI = "cli", "CLI"
    CODE = "code", "Code"
    ENV = "env", "Environment"
    API = "api", "HTTP API"
    PLAYGROUND = "playground", "Playground"


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


class CallOutcome(models.TextChoices):
    """How one attempt ended."""

    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


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

    def clean(self) -> None:
        """The model name follows the shared limits (length, no spaces or control characters)."""
        from aiconfig.validation import check_model_name, raise_for_problems

        raise_for_problems(check_model_name(self.model.strip()))


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
