"""The configuration: providers and their models, task types, assignments, fallbacks, prices.

Models hold data only. Every write goes through `aiconfig.services.config`, which
validates and records the change in `ConfigChange`.
"""

from __future__ import annotations

from django.db import models

from aiconfig.enums import OutputKind, ProviderKind, Source


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
