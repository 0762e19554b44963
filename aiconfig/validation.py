"""The rules a configuration must follow, in one place.

The same functions back model forms, the admin, the CLI, the services, the
dashboard warnings and `manage.py check`. Each problem names the task, the
provider/model and what to do about it.
"""

from __future__ import annotations

import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.text import Truncator

from aiconfig.catalog import (
    BUILTIN_PROVIDERS_BY_NAME,
    CAPABILITY_FOR_KIND,
    CAPABILITY_WORDS,
    task_env_prefix,
)
from aiconfig.endpoints import base_url_problem, key_variable_problem
from aiconfig.enums import OutputKind, ProviderKind
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo, Route, TaskConfig

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


def is_valid_base_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    if not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return False
    del port
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def _suggestions(snapshot_providers: Mapping[str, ProviderInfo], capability: str) -> str:
    """A few provider/model pairs that can do `capability`, for fix hints."""
    found: list[str] = []
    for provider in snapshot_providers.values():
        if not provider.enabled:
            continue
        default = (
            provider.default_image_model if capability == "image" else provider.default_text_model
        )
        model = provider.models.get(default)
        if model and model.supports(capability):
            found.append(f"{provider.name}/{model.name}")
    return ", ".join(found[:3])


def check_route(
    *,
    task: str,
    output_kind: str,
    route: Route,
    position: int,
    providers: Mapping[str, ProviderInfo],
    environ: Mapping[str, str] | None = None,
) -> list[ConfigProblem]:
    """Problems with one step of a task's chain (position 0 is the primary)."""
    prefix = "" if position == 0 else f"fallbacks.{position - 1}."
    where = "" if position == 0 else f" (fallback {position})"
    env_prefix = task_env_prefix(task) + ("_" if position == 0 else "_FALLBACK_")
    capability = CAPABILITY_FOR_KIND[output_kind]
    problems: list[ConfigProblem] = [
        replace(problem, task=task, provider=route.provider)
        for problem in check_model_name(route.model, field=prefix + "model", where=where)
    ]
    provider = providers.get(route.provider)
    if provider is None:
        known = ", ".join(sorted(providers)) or "none"
        problems.append(
            ConfigProblem(
                ERROR,
                "unknown_provider",
                f"Task '{task}'{where}: unknown provider '{route.provider}'.",
                f"Use one of: {known} (set {env_prefix}PROVIDER, or pick one on the Tasks page), "
                "or add the provider first.",
                task=task,
                provider=route.provider,
                model=route.model,
                field=prefix + "provider",
            )
        )
        return problems

    if not provider.enabled:
        problems.append(
            ConfigProblem(
                WARNING,
                "provider_disabled",
                f"Task '{task}'{where}: provider '{provider.name}' is disabled, so calls skip it.",
                "Enable it on the Providers page or assign another provider.",
                task=task,
                provider=provider.name,
                model=route.model,
                field=prefix + "provider",
            )
        )

    if capability == "image" and provider.kind == ProviderKind.ANTHROPIC:
        problems.append(
            ConfigProblem(
                ERROR,
                "capability",
                f"Task '{task}'{where}: Anthropic does not generate images "
                f"('{route}' cannot serve an image task).",
                f"Assign an image model instead, e.g. {_suggestions(providers, 'image')}.",
                task=task,
                provider=provider.name,
                model=route.model,
                field=prefix + "provider",
            )
        )
    elif not route.model:
        problems.append(
            ConfigProblem(
                ERROR,
                "missing_model",
                f"Task '{task}'{where}: no model set and provider '{provider.name}' has no "
                "default model for this task.",
                f"Set {env_prefix}MODEL or choose a model.",
                task=task,
                provider=provider.name,
                field=prefix + "model",
            )
        )
    else:
        info = provider.models.get(route.model)
        if info is None:
            problems.append(
                ConfigProblem(
                    WARNING,
                    "unknown_capabilities",
                    f"Task '{task}'{where}: model '{provider.name}/{route.model}' is not in the "
                    f"model list, so whether it can {CAPABILITY_WORDS[capability]} is unknown.",
                    "Add it to the provider's models with its capabilities to silence this.",
                    task=task,
                    provider=provider.name,
                    model=route.model,
                    field=prefix + "model",
                )
            )
        elif not info.supports(capability):
            problems.append(
                ConfigProblem(
                    ERROR,
                    "capability",
                    f"Task '{task}'{where}: model '{provider.name}/{route.model}' cannot "
                    f"{CAPABILITY_WORDS[capability]}.",
                    f"Assign a model that can, e.g. {_suggestions(providers, capability)}.",
                    task=task,
                    provider=provider.name,
                    model=route.model,
                    field=prefix + "model",
                )
            )

    status = provider.key_status(environ)
    # A variable that may not be a key has its own error (check_provider), not this.
    if not status.ok and status.allowed:
        problems.append(
            ConfigProblem(
                WARNING,
                "provider_not_initialized",
                f"Provider not initialized: task '{task}'{where} uses '{provider.name}' but "
                f"{provider.api_key_env or 'its API key variable'} is not set.",
                f"Set {provider.api_key_env or 'the key variable'} in the environment or .env "
                "and restart.",
                task=task,
                provider=provider.name,
                model=route.model,
                field=prefix + "provider",
            )
        )
    return problems


def _no_enabled_route(
    task: str,
    chain: Sequence[Route],
    providers: Mapping[str, ProviderInfo],
    problems: list[ConfigProblem],
) -> list[ConfigProblem]:
    """A chain whose every provider is disabled is an error, reported once for the task.

    One disabled step in a chain that still has an enabled one stays a warning (calls
    skip it); with none enabled every call fails, so the per-step warnings give way
    to a single error naming the task.
    """
    known = [providers[r.provider] for r in chain if r.provider in providers]
    if not known or any(p.enabled for p in known):
        return problems
    names = sorted({p.name for p in known})
    listed = ", ".join(f"'{n}'" for n in names)
    return [
        *(p for p in problems if p.code != "provider_disabled"),
        ConfigProblem(
            ERROR,
            "no_enabled_route",
            f"Task '{task}' has no enabled provider: {listed} "
            f"{'is' if len(names) == 1 else 'are'} disabled, so every call fails.",
            "Enable one on the Providers page, or assign an enabled provider.",
            task=task,
            provider=names[0],
            field="provider",
        ),
    ]


def check_task(
    *,
    task: str,
    output_kind: str,
    primary: Route,
    fallbacks: Sequence[Route],
    timeout_seconds: float,
    max_retries: int,
    providers: Mapping[str, ProviderInfo],
    environ: Mapping[str, str] | None = None,
    total_timeout_seconds: float | None = None,
) -> list[ConfigProblem]:
    """Every problem with a whole assignment, whether proposed or stored."""
    problems: list[ConfigProblem] = []
    if output_kind not in OutputKind.values:
        problems.append(
            ConfigProblem(
                ERROR,
                "output_kind",
                f"Task '{task}': unknown output kind '{output_kind}'.",
                f"Use one of: {', '.join(OutputKind.values)}.",
                task=task,
                field="output_kind",
            )
        )
        return problems
    for position, route in enumerate((primary, *fallbacks)):
        problems += check_route(
            task=task,
            output_kind=output_kind,
            route=route,
            position=position,
            providers=providers,
            environ=environ,
        )
    problems = _no_enabled_route(task, (primary, *fallbacks), providers, problems)
    seen: dict[Route, int] = {primary: 0}
    for index, route in enumerate(fallbacks, start=1):
        if route == primary:
            problems.append(
                ConfigProblem(
                    ERROR,
                    "fallback_same_as_primary",
                    f"Task '{task}' (fallback {index}): '{route}' is the same as the primary, "
                    "so it cannot help when the primary fails.",
                    "Choose a different provider or model, or remove this fallback.",
                    task=task,
                    provider=route.provider,
                    model=route.model,
                    field=f"fallbacks.{index - 1}.model",
                )
            )
        elif route in seen:
            problems.append(
                ConfigProblem(
                    ERROR,
                    "duplicate_fallback",
                    f"Task '{task}' (fallback {index}): '{route}' is already fallback "
                    f"{seen[route]}.",
                    "Remove the duplicate.",
                    task=task,
                    provider=route.provider,
                    model=route.model,
                    field=f"fallbacks.{index - 1}.model",
                )
            )
        seen.setdefault(route, index)
    problems += check_timeout(timeout_seconds, task=task)
    if not 0 <= max_retries <= MAX_RETRIES:
        problems.append(
            ConfigProblem(
                ERROR,
                "retries",
                f"Task '{task}': {max_retries} retries is out of range.",
                f"Use 0 to {MAX_RETRIES}.",
                task=task,
                field="max_retries",
            )
        )
    problems += check_total_timeout(
        task=task, timeout_seconds=timeout_seconds, total_timeout_seconds=total_timeout_seconds
    )
    return problems


def check_provider(*, provider: ProviderInfo, in_use_by: Iterable[str] = ()) -> list[ConfigProblem]:
    """Problems with a provider's own settings; errors only matter when a task uses it."""
    users = sorted(set(in_use_by))
    level = ERROR if users else WARNING
    used = f" (used by {', '.join(users)})" if users else ""
    problems: list[ConfigProblem] = []
    url = provider.effective_base_url
    spec = BUILTIN_PROVIDERS_BY_NAME.get(provider.name)
    if not url and users:
        problems.append(
            ConfigProblem(
                level,
                "missing_base_url",
                f"Provider '{provider.name}'{used} has no base URL.",
                f"Set {spec.base_url_env} or set it on the Providers page."
                if spec
                else "Set it on the Providers page.",
                provider=provider.name,
                field="base_url",
            )
        )
    elif url and not is_valid_base_url(url):
        problems.append(
            ConfigProblem(
                level,
                "malformed_base_url",
                f"Provider '{provider.name}'{used}: base URL '{url}' is not a valid http(s) URL.",
                "Use an absolute URL such as https://api.example.com/v1.",
                provider=provider.name,
                field="base_url",
            )
        )
    elif url and (refused := base_url_problem(url)):
        # Always an error, used or not: a stored URL is one click from a request.
        problems.append(
            ConfigProblem(
                ERROR,
                "endpoint_not_allowed",
                f"Provider '{provider.name}'{used}: base URL '{url}' is refused: {refused}.",
                "Use the provider's real endpoint. Link-local and cloud metadata addresses "
                "are never allowed; loopback and private networks need "
                "AICONFIG_ALLOW_PRIVATE_ENDPOINTS=true.",
                provider=provider.name,
                field="base_url",
            )
        )
    key_env = provider.api_key_env.strip()
    # Something that is not a variable name (a pasted key?) has its own rule, which never
    # echoes it; a name is shown, never the variable's value.
    if ENV_VAR_RE.match(key_env) and (reason := key_variable_problem(key_env)):
        problems.append(
            ConfigProblem(
                ERROR,
                "key_variable_not_allowed",
                f"Provider '{provider.name}'{used}: key variable {reason}, so it is never read.",
                "Name a variable that holds only this provider's key, e.g. "
                f"{provider.name.upper().replace('-', '_')}_API_KEY, or extend "
                "AICONFIG_KEY_VARIABLES.",
                provider=provider.name,
                field="api_key_env",
            )
        )
    return problems


def check_task_config(
    *, config: TaskConfig, providers: Mapping[str, ProviderInfo], environ: Mapping[str, str]
) -> list[ConfigProblem]:
    """Problems with a stored task configuration."""
    return check_task(
        task=config.task,
        output_kind=config.output_kind,
        primary=config.primary.route,
        fallbacks=[f.route for f in config.fallbacks],
        timeout_seconds=config.timeout_seconds,
        max_retries=config.max_retries,
        providers=providers,
        environ=environ,
        total_timeout_seconds=config.total_timeout_seconds,
    )


def check_total_timeout(
    *, task: str, timeout_seconds: float, total_timeout_seconds: float | None
) -> list[ConfigProblem]:
    """A task's total time limit is blank, or at least its timeout (and in range)."""
    if total_timeout_seconds is None:
        return []
    if not 0 < total_timeout_seconds <= MAX_TOTAL_TIMEOUT_SECONDS:
        text = f"Task '{task}': total time limit {total_timeout_seconds:g}s is out of range."
        fix = f"Leave it blank, or use at most {MAX_TOTAL_TIMEOUT_SECONDS:g} seconds."
    elif total_timeout_seconds < timeout_seconds:
        text = (
            f"Task '{task}': total time limit {total_timeout_seconds:g}s is shorter than "
            f"the timeout {timeout_seconds:g}s, so no attempt could use its full timeout."
        )
        fix = "Make it at least the timeout, or leave it blank for no total limit."
    else:
        return []
    return [
        ConfigProblem(ERROR, "total_timeout", text, fix, task=task, field="total_timeout_seconds")
    ]


def check_snapshot(
    snapshot: ConfigSnapshot, *, environ: Mapping[str, str] | None = None
) -> list[ConfigProblem]:
    """Every problem in the whole configuration: tasks first, then providers."""
    environ = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    users: dict[str, set[str]] = {}
    for config in snapshot.tasks.values():
        problems += check_task_config(config=config, providers=snapshot.providers, environ=environ)
        for step in config.chain:
            users.setdefault(step.provider, set()).add(config.task)
    for provider in snapshot.providers.values():
        problems += check_provider(provider=provider, in_use_by=users.get(provider.name, ()))
    return problems


def route_problems(
    *,
    task: str,
    output_kind: str,
    provider: str,
    model: str,
    position: int,
    providers: Mapping[str, ProviderInfo],
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    total_timeout_seconds: float | None = None,
) -> list[ConfigProblem]:
    """One route as a form holds it (model blank: the provider's default), plus its limits.

    Judged against `providers` from a snapshot the caller already has (admin forms pass
    the cached one), so no database read happens here.
    """
    info = providers.get(provider.strip().lower())
    route = Route(provider.strip().lower(), model.strip())
    if not route.model and info is not None:
        route = Route(route.provider, info.default_model_for(output_kind))
    problems = check_route(
        task=task, output_kind=output_kind, route=route, position=position, providers=providers
    )
    if timeout_seconds is not None:
        problems += check_timeout(timeout_seconds)
    if max_retries is not None and not 0 <= max_retries <= MAX_RETRIES:
        problems.append(
            ConfigProblem(ERROR, "retries", f"{max_retries} retries is out of range.",
                          f"Use 0 to {MAX_RETRIES}.", field="max_retries")
        )  # fmt: skip
    if timeout_seconds is not None:
        problems += check_total_timeout(
            task=task, timeout_seconds=timeout_seconds, total_timeout_seconds=total_timeout_seconds
        )
    # Forms key errors by their own field names: "fallbacks.0.model" is "model" there.
    return [replace(p, field=p.field.rsplit(".", 1)[-1]) for p in problems]


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


def format_seconds(value: float) -> str:
    """Seconds as people write them ("60 s", "2.5 s"); NaN and infinity in words.

    `f"{value:g}s"` turned a NaN typed as `--timeout nan` into "timeout nans".
    """
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinite"
    return f"{value:g} s"


def check_timeout(timeout_seconds: float, *, task: str | None = None) -> list[ConfigProblem]:
    """A timeout must be between MIN_TIMEOUT_SECONDS and MAX_TIMEOUT_SECONDS (NaN is not)."""
    if MIN_TIMEOUT_SECONDS <= timeout_seconds <= MAX_TIMEOUT_SECONDS:
        return []
    who = f"Task '{task}': timeout" if task else "Timeout"
    if math.isfinite(timeout_seconds):
        text = f"{who} {format_seconds(timeout_seconds)} is out of range."
    else:
        text = f"{who} is {format_seconds(timeout_seconds)}."  # "timeout is not a number."
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


def check_provider_format(fields: Mapping[str, object]) -> list[ConfigProblem]:
    """A base URL is an absolute http(s) URL; the key field holds a variable name, not a key."""
    problems: list[ConfigProblem] = []
    base_url = fields.get("base_url")
    if isinstance(base_url, str) and base_url and not is_valid_base_url(base_url.strip()):
        problems.append(
            ConfigProblem(ERROR, "base_url", f"'{_shown(base_url)}' is not a valid http(s) URL.",
                          "Use e.g. https://api.example.com/v1.", field="base_url")
        )  # fmt: skip
    key_env = fields.get("api_key_env")
    if isinstance(key_env, str) and key_env and not ENV_VAR_RE.match(key_env.strip()):
        problems.append(
            ConfigProblem(ERROR, "api_key_env", "Enter the name of the environment variable "
                          "that holds the key (e.g. MYPROVIDER_API_KEY), never the key itself.",
                          field="api_key_env")
        )  # fmt: skip
    return problems


def raise_for_problems(problems: Iterable[ConfigProblem]) -> None:
    """Raise a ValidationError keyed by field for the errors among `problems`."""
    errors: dict[str, list[str]] = {}
    for problem in problems:
        if problem.is_error:
            errors.setdefault(problem.field, []).append(problem.text)
    if errors:
        raise ValidationError(errors)
