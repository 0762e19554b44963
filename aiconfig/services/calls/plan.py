"""The plan of a call: which routes, in what order, each ready to try (or why it can't be)."""

from __future__ import annotations

import contextvars
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from adapters import (
    Adapter,
    AdapterError,
    CapabilityNotSupported,
    ClientConfig,
    ProviderError,
    ProviderNotInitialized,
    build_adapter,
)
from aiconfig.endpoints import allow_private_endpoints
from aiconfig.exceptions import AIConfigError, UnknownTask
from aiconfig.models import OutputKind
from aiconfig.selectors import config_snapshot
from aiconfig.selectors.budgets import budget_gate_fresh, refresh_budget_gate
from aiconfig.services.calls.results import NotConfigured
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo, RouteConfig, TaskConfig
from aiconfig.validation import check_provider, check_route

logger = logging.getLogger("aiconfig.services.calls")

# --- adapters, cached by everything that defines a client -----------------------------

_ADAPTER_CACHE_SIZE = 64
_adapters: OrderedDict[ClientConfig, Adapter] = OrderedDict()
_adapters_lock = threading.Lock()


def get_adapter(
    *, provider: ProviderInfo, timeout_seconds: float, api_key: str | bool | None = False
) -> Adapter:
    """The adapter for a provider as configured now: a changed key or URL builds a new one.

    `api_key`: the provider's key when the caller has just read it (else read here).
    """
    config = ClientConfig(
        kind=provider.kind,
        provider_name=provider.name,
        base_url=provider.effective_base_url,
        api_key=provider.api_key() if api_key is False else api_key,
        timeout_seconds=timeout_seconds,
        key_env=provider.api_key_env or None,
        allow_private_endpoints=allow_private_endpoints(),
    )
    with _adapters_lock:
        adapter = _adapters.get(config)
        if adapter is not None:
            _adapters.move_to_end(config)
            return adapter
        adapter = build_adapter(config)
        _adapters[config] = adapter
        while len(_adapters) > _ADAPTER_CACHE_SIZE:
            _, old = _adapters.popitem(last=False)
            old.close()
    return adapter


def clear_adapter_cache() -> None:
    """Close and forget every cached adapter."""
    with _adapters_lock:
        for adapter in _adapters.values():
            adapter.close()
        _adapters.clear()


# --- the plan: what each step of a chain needs, worked out once per config version ----


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a task's chain with everything needed to try it."""

    position: int
    route: RouteConfig
    provider: ProviderInfo | None
    # A configuration error that rules this step out before any request.
    blocked: AdapterError | None


def plan(snapshot: ConfigSnapshot, config: TaskConfig) -> tuple[Step, ...]:
    """The task's chain as steps, primary first (memoised per configuration version)."""
    key = ("plan", config.task)
    steps = snapshot.memo.get(key)
    if steps is None:
        steps = tuple(
            plan_step(snapshot, config, position, route)
            for position, route in enumerate(config.chain)
        )
        snapshot.memo[key] = steps
    return steps  # type: ignore[return-value]


def plan_step(
    snapshot: ConfigSnapshot, config: TaskConfig, position: int, route: RouteConfig
) -> Step:
    """One route of a task as a step, checked by the same rules as saving it."""
    provider = snapshot.providers.get(route.provider)
    problems = check_route(
        task=config.task,
        output_kind=config.output_kind,
        route=route.route,
        position=position,
        providers=snapshot.providers,
        environ={},
    )
    if provider is not None:
        problems += check_provider(provider=provider, in_use_by=[config.task])
    name = provider.name if provider else route.provider
    for problem in problems:
        if problem.code == "provider_disabled":
            return Step(position, route, provider, NotConfigured(problem.text, provider=name))
        if not problem.is_error:
            continue
        error_class = CapabilityNotSupported if problem.code == "capability" else NotConfigured
        return Step(position, route, provider, error_class(problem.text, provider=name))
    return Step(position, route, provider, None)


def ready_adapter(step: Step, timeout_seconds: float) -> Adapter:
    """The adapter for a step, or the reason the step cannot be tried (no request made)."""
    if step.blocked is not None:
        raise step.blocked
    provider = step.provider
    assert provider is not None
    api_key = provider.api_key()
    if provider.key_required and api_key is None:
        raise ProviderNotInitialized(
            f"Provider not initialized: '{provider.name}' has no API key. "
            f"Set {provider.api_key_env or 'its API key variable'} and restart.",
            provider=provider.name,
            key_env=provider.api_key_env or None,
        )
    return get_adapter(provider=provider, timeout_seconds=timeout_seconds, api_key=api_key)


def resolve(task: str) -> tuple[ConfigSnapshot, TaskConfig]:
    """The current configuration and this task's part of it (budget spend read if stale)."""
    snapshot = config_snapshot()
    config = snapshot.tasks.get(task)
    if config is None:
        raise UnknownTask(task, sorted(snapshot.tasks))
    # Here, where the database may be read; the walk then asks the gate in memory only.
    refresh_budget_gate(snapshot)
    return snapshot, config


# The configuration the current request has already read and checked (the gateway's
# token check reads it), so the calls it makes need not read it again from a thread.
# Set for one request's context only, like `log.API_TOKEN`.
PINNED_CONFIG: contextvars.ContextVar[ConfigSnapshot | None] = contextvars.ContextVar(
    "aiconfig_pinned_config", default=None
)


async def aresolve(task: str) -> tuple[ConfigSnapshot, TaskConfig]:
    """`resolve` for async callers: the request's pinned configuration, else one thread hop."""
    pinned = PINNED_CONFIG.get()
    if pinned is None:
        return await sync_to_async(resolve)(task)
    config = pinned.tasks.get(task)
    if config is None:
        raise UnknownTask(task, sorted(pinned.tasks))
    # A pinned configuration skips `resolve`, but never the budget gate: a `stop`
    # budget whose spend is stale is re-read first (one thread hop, rarely).
    if not budget_gate_fresh(pinned):
        await sync_to_async(refresh_budget_gate)(pinned)
    return pinned, config


def check_kind(config: TaskConfig, *allowed: str) -> None:
    """Refuse a call whose shape the task does not produce."""
    if config.output_kind not in allowed:
        raise AIConfigError(
            f"Task '{config.task}' produces {OutputKind(config.output_kind).label.lower()}; "
            f"this call needs a task whose output is {' or '.join(allowed)}."
        )


def wrap_unexpected(exc: Exception, step: Step) -> AdapterError:
    """An adapter bug or an SDK surprise is still a failed attempt: fall back, and log it."""
    logger.error(
        "Unexpected error calling %s/%s", step.route.provider, step.route.model, exc_info=exc
    )
    name = step.provider.name if step.provider else step.route.provider
    return ProviderError(f"{name}: unexpected error ({type(exc).__name__})", provider=name)
