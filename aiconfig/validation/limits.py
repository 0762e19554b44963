"""The problem type, and the limits every entry point shares: lengths, characters, ranges."""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from django.core.exceptions import ValidationError
from django.utils.text import Truncator

from aiconfig.formatting import seconds

ERROR: Literal["error"] = "error"
WARNING: Literal["warning"] = "warning"

MAX_TIMEOUT_SECONDS = 600.0
ENV_VAR_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_RETRIES = 5
# A whole call, fallbacks and retries included.
MAX_TOTAL_TIMEOUT_SECONDS = 3600.0


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong (error) or worth a look (warning) in the configuration."""

    level: Literal["error", "warning"]
    code: str
    message: str
    fix: str = ""
    task: str | None = None
    provider: str | None = None
    model: str | None = None
    # Which input the problem belongs to, so forms can show it next to that field:
    # "provider", "model", "fallbacks.0.model", "timeout_seconds", "base_url", ...
    field: str = "__all__"

    @property
    def text(self) -> str:
        """The message followed by its fix."""
        return f"{self.message} {self.fix}".strip()

    @property
    def is_error(self) -> bool:
        """True for problems that block saving and calls."""
        return self.level == ERROR


# --- limits: lengths and characters ----------------------------------------------------
# One place for how long and which characters names, URLs and variables may have, for
# every entry point (services, so dashboard, admin, CLI and code). Each limit matches the
# column's max_length: PostgreSQL would otherwise fail with a DataError traceback and
# SQLite would store the value as given.

MAX_TASK_NAME = 64  # TaskType.name
MAX_PROVIDER_NAME = 64  # Provider.name, TaskAssignment.provider, ModelPrice.provider
MAX_MODEL_NAME = 200  # ProviderModel.name, TaskAssignment.model, Provider.default_*_model
MAX_BASE_URL = 500  # Provider.base_url
MAX_KEY_VARIABLE = 100  # Provider.api_key_env
MAX_LABEL = 100  # Provider.label
MAX_PRICING_ID = 64  # Provider.pricing_id
MAX_DESCRIPTION = 300  # TaskType.description
# Below a second no provider answers; a typo such as 0.001 would make every call time out.
MIN_TIMEOUT_SECONDS = 1.0
# Task and provider names: they become env var names (AI_<TASK>_...) and URL segments.
NAME_RE = re.compile(rf"^[a-z][a-z0-9-]{{0,{MAX_TASK_NAME - 1}}}$")

# Text limits of a provider's own fields: (field, limit, what the user calls it).
PROVIDER_TEXT_LIMITS: tuple[tuple[str, int, str], ...] = (
    ("label", MAX_LABEL, "Label"),
    ("base_url", MAX_BASE_URL, "Base URL"),
    ("api_key_env", MAX_KEY_VARIABLE, "Key variable name"),
    ("pricing_id", MAX_PRICING_ID, "Price list provider id"),
)
PROVIDER_MODEL_FIELDS: tuple[tuple[str, str], ...] = (
    ("default_text_model", "Default text model"),
    ("default_image_model", "Default image model"),
)


def _shown(value: str) -> str:
    """A value as a message may quote it: short, and with control characters escaped."""
    return Truncator(repr(value)[1:-1]).chars(40)


def check_timeout(timeout_seconds: float, *, task: str | None = None) -> list[ConfigProblem]:
    """A timeout must be between MIN_TIMEOUT_SECONDS and MAX_TIMEOUT_SECONDS (NaN is not)."""
    if MIN_TIMEOUT_SECONDS <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        return []
    who = f"Task '{task}': timeout" if task else "Timeout"
    if math.isfinite(timeout_seconds):
        text = f"{who} {seconds(timeout_seconds)} is out of range."
    else:
        text = f"{who} is {seconds(timeout_seconds)}."  # "timeout is not a number."
    return [
        ConfigProblem(
            ERROR,
            "timeout",
            text,
            f"Use {MIN_TIMEOUT_SECONDS:g} to {MAX_TIMEOUT_SECONDS:g} seconds.",
            task=task,
            field="timeout_seconds",
        )
    ]


def check_length(value: str, *, limit: int, field: str, what: str) -> list[ConfigProblem]:
    """A text value longer than its column allows."""
    if len(value) <= limit:
        return []
    return [
        ConfigProblem(
            ERROR,
            "too_long",
            f"{what} is {len(value)} characters long ('{_shown(value)}').",
            f"Use at most {limit} characters.",
            field=field,
        )
    ]


def check_model_name(
    name: str, *, field: str = "model", what: str = "Model name", where: str = ""
) -> list[ConfigProblem]:
    """A model name fits its column and has no spaces or control characters.

    Providers' model ids never contain either; a stray newline or tab pasted with a
    name would otherwise be sent to the provider and fail far from where it was typed.
    """
    problems = check_length(name, limit=MAX_MODEL_NAME, field=field, what=what + where)
    if any(c.isspace() or unicodedata.category(c).startswith("C") for c in name):
        problems.append(
            ConfigProblem(
                ERROR,
                "model_name_characters",
                f"{what}{where} '{_shown(name)}' contains spaces or control characters.",
                "Enter the model id exactly as the provider lists it, e.g. gpt-4.1.",
                model=name,
                field=field,
            )
        )
    return problems


def check_name(
    name: str, *, kind: Literal["task", "provider"], field: str = "name"
) -> list[ConfigProblem]:
    """A task or provider name: lowercase letters, digits and hyphens, at most 64 long."""
    if NAME_RE.match(name):
        return []
    example = "summaries" if kind == "task" else "my-vllm"
    return [
        ConfigProblem(
            ERROR,
            "name",
            f"'{_shown(name)}' is not a valid {kind} name.",
            f"Use lowercase letters, digits and hyphens, starting with a letter, at most "
            f"{MAX_TASK_NAME} characters (e.g. '{example}').",
            field=field,
        )
    ]


def check_provider_limits(fields: Mapping[str, object]) -> list[ConfigProblem]:
    """Lengths and characters of the provider fields present in `fields`."""
    problems: list[ConfigProblem] = []
    for field, limit, what in PROVIDER_TEXT_LIMITS:
        value = fields.get(field)
        if isinstance(value, str):
            problems += check_length(value, limit=limit, field=field, what=what)
    for field, what in PROVIDER_MODEL_FIELDS:
        value = fields.get(field)
        if isinstance(value, str):
            problems += check_model_name(value, field=field, what=what)
    return problems


def raise_for_problems(problems: Iterable[ConfigProblem]) -> None:
    """Raise a ValidationError keyed by field for the errors among `problems`."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        if problem.is_error:
            errors.setdefault(problem.field, []).append(problem.text)
    if errors:
        raise ValidationError(errors)
