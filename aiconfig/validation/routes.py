"""Rules for a task's chain: each route, the chain as a whole, and its time limits."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import replace

from aiconfig.catalog import CAPABILITY_FOR_KIND, CAPABILITY_WORDS, task_env_prefix
from aiconfig.enums import OutputKind, ProviderKind
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo, Route, TaskConfig
from aiconfig.validation.limits import (
    ERROR,
    MAX_RETRIES,
    MAX_TOTAL_TIMEOUT_SECONDS,
    WARNING,
    ConfigProblem,
    check_model_name,
    check_timeout,
)
from aiconfig.validation.providers import check_provider


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
