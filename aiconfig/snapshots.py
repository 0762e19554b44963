"""Immutable views of the configuration, built from the database once per config version.

Calls, validation and pages read these plain objects instead of ORM rows, so a
call never touches the config tables while the configuration is unchanged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from aiconfig.catalog import CAPABILITY_FOR_KIND
from aiconfig.enums import OutputKind, ProviderKind

# The SDKs' public endpoints, used when a provider's base URL is blank.
SDK_DEFAULT_BASE_URLS: dict[str, str] = {
    ProviderKind.OPENAI: "https://api.openai.com/v1",
    ProviderKind.ANTHROPIC: "https://api.anthropic.com",
}


@dataclass(frozen=True, slots=True)
class PriceOverride:
    """A row of the admin's price table: USD per million tokens, or per image."""

    input_per_million: Decimal | None
    output_per_million: Decimal | None
    per_image: Decimal | None
    # Cache reads / writes; None: billed at the input price.
    cached_input_per_million: Decimal | None = None
    cache_write_per_million: Decimal | None = None


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A listed model and its capabilities."""

    name: str
    text: bool
    image: bool
    structured: bool
    tools: bool
    notes: str = ""
    builtin: bool = False

    def supports(self, capability: str) -> bool:
        """Whether the model has `capability` ("text", "image", "structured", "tools")."""
        return bool(getattr(self, capability))

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The capability names this model has, in display order."""
        return tuple(c for c in ("text", "image", "structured", "tools") if getattr(self, c))


@dataclass(frozen=True, slots=True)
class KeyStatus:
    """Whether a provider's key is available, without ever holding the key."""

    env_var: str
    required: bool
    is_set: bool
    last4: str
    # False when the variable may not hold a key (AICONFIG_KEY_VARIABLES, denylist): it
    # is then never read, so nothing about its value can show up anywhere.
    allowed: bool = True

    @property
    def ok(self) -> bool:
        """True when calls can authenticate (key set, or none needed)."""
        return self.is_set or not self.required

    @property
    def masked(self) -> str:
        """The key as it may be shown: only its last four characters."""
        return f"…{self.last4}" if self.is_set else ""


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """A provider as configured in the database."""

    name: str
    label: str
    kind: str
    base_url: str
    base_url_source: str
    api_key_env: str
    key_required: bool
    enabled: bool
    builtin: bool
    self_hosted: bool
    pricing_id: str
    default_text_model: str
    default_image_model: str
    models: Mapping[str, ModelInfo] = field(default_factory=dict)

    @property
    def display_name(self) -> str:
        """The label, or the name when no label is set."""
        return self.label or self.name

    @property
    def effective_base_url(self) -> str:
        """The URL calls go to: the configured one, else the SDK's public endpoint."""
        return self.base_url or SDK_DEFAULT_BASE_URLS.get(self.kind, "")

    def default_model_for(self, output_kind: str) -> str:
        """The model used when a task names this provider without a model."""
        if output_kind == OutputKind.IMAGE:
            return self.default_image_model
        return self.default_text_model

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The key from the environment at call time, or None when unset or not allowed."""
        from aiconfig.endpoints import key_variable_allowed

        if not self.api_key_env or not key_variable_allowed(self.api_key_env):
            # A variable that may not be a key (SECRET_KEY, PATH, ...) is never read.
            return None
        value = (os.environ if environ is None else environ).get(self.api_key_env, "").strip()
        return value or None

    def key_status(self, environ: Mapping[str, str] | None = None) -> KeyStatus:
        """Key presence and its last four characters, safe to show."""
        from aiconfig.endpoints import key_variable_allowed

        key = self.api_key(environ)
        return KeyStatus(
            env_var=self.api_key_env,
            required=self.key_required,
            is_set=key is not None,
            last4=key[-4:] if key and len(key) >= 12 else "",
            allowed=key_variable_allowed(self.api_key_env) if self.api_key_env else True,
        )

    @classmethod
    def build(
        cls, *, name: str, fields: Mapping[str, object], models: Mapping[str, ModelInfo] = {}
    ) -> ProviderInfo:
        """From a provider row's values (or a form's cleaned data); missing ones get defaults."""
        get = fields.get
        return cls(
            name=name,
            label=str(get("label", "")),
            kind=str(get("kind", ProviderKind.OPENAI_COMPATIBLE)),
            base_url=str(get("base_url", "")),
            base_url_source=str(get("base_url_source", "edited")),
            api_key_env=str(get("api_key_env", "")),
            key_required=bool(get("key_required", True)),
            enabled=bool(get("enabled", True)),
            builtin=bool(get("builtin", False)),
            self_hosted=bool(get("self_hosted", False)),
            pricing_id=str(get("pricing_id", "")),
            default_text_model=str(get("default_text_model", "")),
            default_image_model=str(get("default_image_model", "")),
            models=dict(models),
        )

    def models_for(self, output_kind: str) -> list[ModelInfo]:
        """Listed models that can serve `output_kind`, in name order."""
        capability = CAPABILITY_FOR_KIND[output_kind]
        return sorted(
            (m for m in self.models.values() if m.supports(capability)), key=lambda m: m.name
        )


@dataclass(frozen=True, slots=True)
class Route:
    """A provider and model pair: one step of a chain."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}" if self.model else self.provider

    @classmethod
    def parse(cls, value: str) -> Route:
        """Parse `provider:model` (or `provider/model`; the model may contain slashes)."""
        value = value.strip()
        if ":" in value:
            provider, model = value.split(":", 1)
        elif "/" in value:
            provider, model = value.split("/", 1)
        else:
            provider, model = value, ""
        return cls(provider.strip().lower(), model.strip())


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """A configured step with where it came from."""

    provider: str
    model: str
    source: str
    model_defaulted: bool = False

    @property
    def route(self) -> Route:
        """The provider/model pair alone."""
        return Route(self.provider, self.model)


@dataclass(frozen=True, slots=True)
class TaskConfig:
    """A task's effective assignment: primary, ordered fallbacks, timeout and retries."""

    task: str
    output_kind: str
    description: str
    builtin: bool
    primary: RouteConfig
    fallbacks: tuple[RouteConfig, ...]
    timeout_seconds: float
    max_retries: int
    updated_at: datetime | None = None
    # Wall-clock budget for the whole call, fallbacks included; None: no limit.
    total_timeout_seconds: float | None = None

    @property
    def provider(self) -> str:
        """The primary provider's name."""
        return self.primary.provider

    @property
    def model(self) -> str:
        """The primary model's name."""
        return self.primary.model

    @property
    def chain(self) -> tuple[RouteConfig, ...]:
        """Primary first, then each fallback in order."""
        return (self.primary, *self.fallbacks)

    @property
    def capability(self) -> str:
        """The model capability this task needs."""
        return CAPABILITY_FOR_KIND[self.output_kind]


@dataclass(frozen=True, slots=True)
class ConfigSnapshot:
    """Every provider and task at one configuration version."""

    version: int
    providers: Mapping[str, ProviderInfo]
    tasks: Mapping[str, TaskConfig]
    # (provider, model, image_size, image_quality) -> the admin's price override.
    prices: Mapping[tuple[str, str, str, str], PriceOverride] = field(default_factory=dict)
    # Per-snapshot memo for derived data (e.g. call plans); dies with the snapshot.
    memo: dict[object, object] = field(default_factory=dict, compare=False, repr=False)

    def model_info(self, provider: str, model: str) -> ModelInfo | None:
        """The listed model, or None when its capabilities are unknown."""
        info = self.providers.get(provider)
        return info.models.get(model) if info else None
