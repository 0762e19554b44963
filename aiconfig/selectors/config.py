"""Reads: the effective configuration, cheaply, in every process.

`config_snapshot()` costs one indexed query while nothing has changed: it compares
the newest `ConfigChange` id with the version it cached and reloads only when they
differ. That is how an edit made in one process reaches every other process on
its next call, without a restart and without a shared cache server.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

from django.db import DEFAULT_DB_ALIAS, connection

from aiconfig.exceptions import UnknownTask
from aiconfig.models import ConfigChange, ModelPrice, Provider, TaskAssignment, TaskType
from aiconfig.selectors.budgets import clear_budget_cache
from aiconfig.snapshots import (
    ConfigSnapshot,
    ModelInfo,
    PriceOverride,
    ProviderInfo,
    RouteConfig,
    TaskConfig,
)

# The provider columns a ProviderInfo is built from (services.config reuses them).
PROVIDER_ROW_FIELDS = (
    "label",
    "kind",
    "base_url",
    "base_url_source",
    "api_key_env",
    "key_required",
    "enabled",
    "builtin",
    "self_hosted",
    "pricing_id",
    "default_text_model",
    "default_image_model",
)

_cache_lock = threading.Lock()
_cached: dict[str, ConfigSnapshot] = {}


def config_version() -> int:
    """The id of the newest configuration change (0 before any)."""
    table = connection.ops.quote_name(ConfigChange._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {table}")
        row = cursor.fetchone()
    return int(row[0] or 0) if row else 0


def _load_providers() -> dict[str, ProviderInfo]:
    providers: dict[str, ProviderInfo] = {}
    for row in Provider.objects.prefetch_related("models"):
        models = {
            m.name: ModelInfo(
                name=m.name,
                text=m.supports_text,
                image=m.supports_image,
                structured=m.supports_structured,
                tools=m.supports_tools,
                notes=m.notes,
                builtin=m.builtin,
            )
            for m in row.models.all()
        }
        providers[row.name] = ProviderInfo.build(
            name=row.name,
            fields={f: getattr(row, f) for f in PROVIDER_ROW_FIELDS},
            models=models,
        )
    return providers


def _load_tasks() -> dict[str, TaskConfig]:
    tasks: dict[str, TaskConfig] = {}
    assignments = {a.task_id: a for a in TaskAssignment.objects.prefetch_related("fallbacks")}
    for task in TaskType.objects.order_by("name"):
        assignment = assignments.get(task.pk)
        if assignment is None:
            continue
        tasks[task.name] = TaskConfig(
            task=task.name,
            output_kind=task.output_kind,
            description=task.description,
            builtin=task.builtin,
            primary=RouteConfig(
                provider=assignment.provider,
                model=assignment.model,
                source=assignment.source,
                model_defaulted=assignment.model_defaulted,
            ),
            fallbacks=tuple(
                RouteConfig(
                    provider=f.provider,
                    model=f.model,
                    source=f.source,
                    model_defaulted=f.model_defaulted,
                )
                for f in sorted(assignment.fallbacks.all(), key=lambda f: f.position)
            ),
            timeout_seconds=assignment.timeout_seconds,
            max_retries=assignment.max_retries,
            total_timeout_seconds=assignment.total_timeout_seconds,
            updated_at=assignment.updated_at,
        )
    return tasks


def _load_prices() -> dict[tuple[str, str, str, str], PriceOverride]:
    return {
        (p.provider, p.model, p.image_size, p.image_quality): PriceOverride(
            input_per_million=p.input_per_million,
            output_per_million=p.output_per_million,
            per_image=p.per_image,
            cached_input_per_million=p.cached_input_per_million,
            cache_write_per_million=p.cache_write_per_million,
        )
        for p in ModelPrice.objects.all()
    }


def load_snapshot() -> ConfigSnapshot:
    """Build a fresh snapshot from the database, bypassing the cache."""
    version = config_version()
    return ConfigSnapshot(
        version=version,
        providers=_load_providers(),
        tasks=_load_tasks(),
        prices=_load_prices(),
    )


def config_snapshot() -> ConfigSnapshot:
    """The current configuration: cached per process, reloaded when the version moves."""
    return snapshot_at_version(config_version())


def snapshot_at_version(version: int) -> ConfigSnapshot:
    """The configuration, given its current version (read by the caller just now)."""
    key = connection.alias
    cached = _cached.get(key)
    if cached is not None and cached.version == version:
        return cached
    snapshot = load_snapshot()
    # Inside a transaction the version may still roll back, and SQLite can then hand
    # the same id to a different change: only cache what was read outside one.
    if not connection.in_atomic_block:
        with _cache_lock:
            _cached[key] = snapshot
    return snapshot


def cached_snapshot(*, version: int, alias: str = DEFAULT_DB_ALIAS) -> ConfigSnapshot | None:
    """The configuration this process has cached, if it is at `version`; never a query.

    For code on the event loop, which may not touch Django's connections: None means
    the caller must go through `snapshot_at_version` (in a thread) to load it.
    """
    cached = _cached.get(alias)
    return cached if cached is not None and cached.version == version else None


def clear_config_cache() -> None:
    """Forget cached snapshots and budget spend (tests that rewrite tables use this)."""
    _cached.clear()
    clear_budget_cache()


def get_task_config(*, task: str) -> TaskConfig:
    """One task's effective assignment; raises UnknownTask with the known names."""
    snapshot = config_snapshot()
    try:
        return snapshot.tasks[task]
    except KeyError:
        raise UnknownTask(task, sorted(snapshot.tasks)) from None


def list_task_configs() -> list[TaskConfig]:
    """Every task's effective assignment, by name."""
    return list(config_snapshot().tasks.values())


def get_provider(*, name: str) -> ProviderInfo | None:
    """A provider by name, or None."""
    return config_snapshot().providers.get(name)


def list_providers() -> list[ProviderInfo]:
    """Every provider, by name."""
    return sorted(config_snapshot().providers.values(), key=lambda p: p.name)


def providers_in_use(snapshot: ConfigSnapshot) -> Mapping[str, list[str]]:
    """For each provider name, the tasks whose chain uses it."""
    used: dict[str, list[str]] = {}
    for config in snapshot.tasks.values():
        for step in config.chain:
            tasks = used.setdefault(step.provider, [])
            if config.task not in tasks:
                tasks.append(config.task)
    return used
