"""The choices models, rules and pages share: kinds, sources, channels, outcomes.

They live apart from the models so that rules, snapshots and the catalog can name
them without importing `aiconfig.models` (which would close an import cycle).
"""

from __future__ import annotations

from django.db import models


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


class Channel(models.TextChoices):
    """Where a change or a call came from."""

    UI = "ui", "Dashboard"
    ADMIN = "admin", "Admin"
    CLI = "cli", "CLI"
    CODE = "code", "Code"
    ENV = "env", "Environment"
    API = "api", "HTTP API"
    PLAYGROUND = "playground", "Playground"


class CallOutcome(models.TextChoices):
    """How one attempt ended."""

    SUCCESS = "success", "Success"
    ERROR = "error", "Error"
    TIMED_OUT = "timed_out", "Timed out"
    CANCELLED = "cancelled", "Cancelled"


class PriceSource(models.TextChoices):
    """Where a call's price came from (the call explorer explains each attempt's cost)."""

    ADMIN = "admin", "The admin's price table"
    GENAI_PRICES = "genai_prices", "genai-prices (bundled price data)"
    IMAGE_TABLE = "image_table", "The built-in image price table"
    SELF_HOSTED = "self_hosted", "Self-hosted ($0)"
    NOT_BILLED = "not_billed", "Not billed"
    UNKNOWN = "unknown", "Unknown price"


class BudgetPeriod(models.TextChoices):
    """How often a budget starts again (calendar periods, UTC; weeks start on Monday)."""

    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"
    MONTHLY = "monthly", "Monthly"


class BudgetAction(models.TextChoices):
    """What happens once a budget is spent."""

    WARN = "warn", "Warn only"
    STOP = "stop", "Stop the calls"


class AlertMetric(models.TextChoices):
    """What an alert rule watches over its window."""

    FAILURE_RATE = "failure_rate", "Failure rate (%)"
    P95_LATENCY = "p95_latency", "p95 latency (ms)"


class AlertKind(models.TextChoices):
    """Which threshold a sent alert is about."""

    BUDGET_WARNING = "budget_warning", "Budget warning"
    BUDGET_EXCEEDED = "budget_exceeded", "Budget exceeded"
    RULE = "rule", "Alert rule"
