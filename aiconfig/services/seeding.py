"""Seeding the configuration from the environment, and re-applying it on purpose.

The rule between env and database:
- `migrate` (and `flush`) run `seed_from_env`: the environment fills in only what
  the database lacks (a task, a provider, a listed model). Values are stored as
  written, even invalid ones, so `manage.py check` and the dashboard can point at them;
  an invalid value never makes `migrate` fail.
- An edit made anywhere (dashboard, admin, CLI, code) is never overwritten by a
  restart or a later `migrate`.
- `manage.py ai_config apply-env [--dry-run]` makes the database follow the
  environment again for the tasks and base URLs the environment sets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from django.db import transaction

from aiconfig.catalog import (
    BUILTIN_PROVIDERS,
    BUILTIN_TASKS,
    BUILTIN_TASKS_BY_NAME,
    DEFAULT_TIMEOUT_SECONDS,
    task_env_prefix,
    task_name_from_env,
)
from aiconfig.models import (
    Channel,
    ConfigChange,
    OutputKind,
    Provider,
    ProviderModel,
    Source,
    TaskType,
)
from aiconfig.selectors import load_snapshot
from aiconfig.services.config import (
    ConfigValidationError,
    ProposedTask,
    _save_assignment,
    add_task,
    update_provider,
    update_task_config,
)
from aiconfig.services.history import (
    State,
    User,
    describe_change,
    provider_state,
    record_change,
    task_state,
)
from aiconfig.snapshots import ProviderInfo, Route
from aiconfig.validation import (
    MAX_BASE_URL,
    MAX_MODEL_NAME,
    MAX_PROVIDER_NAME,
    NAME_RE,
    ConfigProblem,
    check_task,
)

logger = logging.getLogger(__name__)

CUSTOM_TASK_RE = re.compile(r"^AI_([A-Z0-9_]+)_PROVIDER$")


@dataclass(frozen=True, slots=True)
class EnvTask:
    """What the environment says about one task."""

    name: str
    builtin: bool
    output_kind: str
    provider: str = ""
    model: str = ""
    fallback_provider: str = ""
    fallback_model: str = ""
    variables: tuple[str, ...] = ()

    @property
    def mentioned(self) -> bool:
        """True when at least one AI_<TASK>_* variable is set."""
        return bool(self.variables)


def _get(environ: Mapping[str, str], name: str, *, limit: int | None = None) -> str:
    """An env value, stripped; one longer than its column can hold counts as unset.

    Invalid values are otherwise stored as written so `check` can point at them, but an
    over-long one cannot be stored at all (PostgreSQL refuses it and `migrate` would
    fail), so it is ignored with a warning naming the variable and the limit.
    """
    value = environ.get(name, "").strip()
    if limit is not None and len(value) > limit:
        logger.warning(
            "%s is %d characters long, more than the %d allowed; ignored.", name, len(value), limit
        )
        return ""
    return value


def read_env_tasks(environ: Mapping[str, str]) -> dict[str, EnvTask]:
    """Every task the environment describes: the built-in four plus any AI_<NAME>_PROVIDER."""
    tasks: dict[str, EnvTask] = {}

    def read(name: str, *, builtin: bool, output_kind: str) -> EnvTask:
        prefix = task_env_prefix(name)
        names = {
            "provider": f"{prefix}_PROVIDER",
            "model": f"{prefix}_MODEL",
            "fallback_provider": f"{prefix}_FALLBACK_PROVIDER",
            "fallback_model": f"{prefix}_FALLBACK_MODEL",
        }
        values = {
            key: _get(environ, var, limit=MAX_MODEL_NAME if "model" in key else MAX_PROVIDER_NAME)
            for key, var in names.items()
        }
        for key in ("provider", "fallback_provider"):
            values[key] = values[key].lower()
        return EnvTask(
            name=name,
            builtin=builtin,
            output_kind=output_kind,
            variables=tuple(var for key, var in names.items() if values[key]),
            **values,
        )

    for spec in BUILTIN_TASKS:
        tasks[spec.name] = read(spec.name, builtin=True, output_kind=spec.output_kind)
    builtin_prefixes = {task_env_prefix(spec.name) for spec in BUILTIN_TASKS}
    for var in sorted(environ):
        match = CUSTOM_TASK_RE.match(var)
        if not match or match.group(1).endswith("_FALLBACK") or not _get(environ, var):
            continue
        if f"AI_{match.group(1)}" in builtin_prefixes:
            continue
        name = task_name_from_env(match.group(1))
        if NAME_RE.match(name) and name not in tasks:
            tasks[name] = read(name, builtin=False, output_kind=OutputKind.TEXT)
    return tasks


def _default_model(provider: str, output_kind: str, providers: Mapping[str, ProviderInfo]) -> str:
    info = providers.get(provider)
    return info.default_model_for(output_kind) if info else ""


def env_proposal(
    env_task: EnvTask, *, providers: Mapping[str, ProviderInfo]
) -> tuple[ProposedTask, str]:
    """The assignment the environment asks for, and its source (env or default)."""
    kind = env_task.output_kind
    spec = BUILTIN_TASKS_BY_NAME.get(env_task.name)
    timeout = spec.timeout_seconds if spec else DEFAULT_TIMEOUT_SECONDS[kind]
    if not env_task.provider and not env_task.model and spec is not None:
        primary, defaulted = Route(spec.default_provider, spec.default_model), False
    else:
        provider = env_task.provider or (spec.default_provider if spec else "")
        model = env_task.model or _default_model(provider, kind, providers)
        primary, defaulted = Route(provider, model), not env_task.model
    fallbacks: tuple[tuple[Route, bool], ...] = ()
    if env_task.fallback_provider or env_task.fallback_model:
        provider = env_task.fallback_provider or primary.provider
        model = env_task.fallback_model or _default_model(provider, kind, providers)
        fallbacks = ((Route(provider, model), not env_task.fallback_model),)
    proposed = ProposedTask(
        output_kind=kind,
        primary=primary,
        primary_defaulted=defaulted,
        fallbacks=fallbacks,
        timeout_seconds=timeout,
        max_retries=0,
    )
    return proposed, Source.ENV if env_task.mentioned else Source.DEFAULT


@dataclass
class SeedReport:
    """What a seeding run created."""

    created: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.created)


def _seed_providers(environ: Mapping[str, str], report: SeedReport) -> None:
    for spec in BUILTIN_PROVIDERS:
        env_url = _get(environ, spec.base_url_env, limit=MAX_BASE_URL)
        row = Provider.objects.filter(name=spec.name).first()
        if row is None:
            row = Provider.objects.create(
                name=spec.name,
                label=spec.label,
                kind=spec.kind,
                base_url=env_url or spec.default_base_url,
                base_url_source=Source.ENV if env_url else Source.DEFAULT,
                api_key_env=spec.api_key_env,
                key_required=spec.key_required,
                builtin=True,
                self_hosted=spec.self_hosted,
                pricing_id=spec.pricing_id,
                default_text_model=spec.default_text_model,
                default_image_model=spec.default_image_model,
            )
            ProviderModel.objects.bulk_create(
                ProviderModel(
                    provider=row,
                    name=m.name,
                    supports_text=m.text,
                    supports_image=m.image,
                    supports_structured=m.structured,
                    supports_tools=m.tools,
                    notes=m.notes,
                    builtin=True,
                )
                for m in spec.models
            )
            record_change(
                target_type=ConfigChange.Target.PROVIDER,
                target_name=spec.name,
                before=None,
                after=provider_state(row),
                channel=Channel.ENV,
            )
            report.created.append(f"provider {spec.name}")
            continue
        if not row.base_url and env_url:
            before = provider_state(row)
            row.base_url, row.base_url_source = env_url, Source.ENV
            row.save(update_fields=["base_url", "base_url_source", "updated_at"])
            record_change(
                target_type=ConfigChange.Target.PROVIDER,
                target_name=spec.name,
                before=before,
                after=provider_state(row),
                channel=Channel.ENV,
            )
            report.created.append(f"base URL of provider {spec.name}")
        # Models added to the catalog by a later release join existing providers.
        existing = set(row.models.values_list("name", flat=True))
        for m in spec.models:
            if m.name in existing:
                continue
            ProviderModel.objects.create(
                provider=row,
                name=m.name,
                supports_text=m.text,
                supports_image=m.image,
                supports_structured=m.structured,
                supports_tools=m.tools,
                notes=m.notes,
                builtin=True,
            )
            record_change(
                target_type=ConfigChange.Target.MODEL,
                target_name=f"{spec.name}/{m.name}",
                before=None,
                after={"supports_text": m.text, "supports_image": m.image,
                       "supports_structured": m.structured, "supports_tools": m.tools,
                       "notes": m.notes},
                channel=Channel.ENV,
            )  # fmt: skip
            report.created.append(f"model {spec.name}/{m.name}")


def seed_from_env(*, environ: Mapping[str, str]) -> SeedReport:
    """Fill in what the database lacks from the environment; never overwrite anything."""
    report = SeedReport()
    with transaction.atomic():
        _seed_providers(environ, report)
        providers = load_snapshot().providers
        existing = set(
            TaskType.objects.filter(assignment__isnull=False).values_list("name", flat=True)
        )
        for env_task in read_env_tasks(environ).values():
            if env_task.name in existing:
                continue
            proposed, source = env_proposal(env_task, providers=providers)
            spec = BUILTIN_TASKS_BY_NAME.get(env_task.name)
            task_row, _ = TaskType.objects.get_or_create(
                name=env_task.name,
                defaults={
                    "output_kind": env_task.output_kind,
                    "builtin": env_task.builtin,
                    "description": spec.description if spec else "Added from the environment",
                },
            )
            _save_assignment(
                task=task_row, proposed=proposed, source=source, fallback_source=source
            )
            record_change(
                target_type=ConfigChange.Target.TASK,
                target_name=env_task.name,
                before=None,
                after=task_state(task_row),
                channel=Channel.ENV,
            )
            report.created.append(f"task {env_task.name}")
    return report


@dataclass(frozen=True, slots=True)
class PlannedChange:
    """One difference between the environment and the database."""

    target_type: str
    name: str
    before: State | None
    after: State
    problems: tuple[ConfigProblem, ...] = ()

    @property
    def summary(self) -> str:
        """What applying it would change, in one line."""
        return describe_change(self.target_type, self.before, self.after)

    @property
    def errors(self) -> list[ConfigProblem]:
        """The rules the environment's value breaks."""
        return [p for p in self.problems if p.is_error]


def plan_env_apply(
    *, environ: Mapping[str, str], tasks: Sequence[str] | None = None
) -> list[PlannedChange]:
    """How the database differs from what the environment sets (tasks it mentions, base URLs)."""
    snapshot = load_snapshot()
    plan: list[PlannedChange] = []
    for spec in BUILTIN_PROVIDERS:
        env_url = _get(environ, spec.base_url_env, limit=MAX_BASE_URL)
        provider = snapshot.providers.get(spec.name)
        if tasks is None and env_url and provider and provider.base_url != env_url:
            before = {"base_url": provider.base_url}
            plan.append(
                PlannedChange(
                    ConfigChange.Target.PROVIDER, spec.name, before, {"base_url": env_url}
                )
            )
    for env_task in read_env_tasks(environ).values():
        if not env_task.mentioned or (tasks is not None and env_task.name not in tasks):
            continue
        proposed, _ = env_proposal(env_task, providers=snapshot.providers)
        row = TaskType.objects.filter(name=env_task.name).first()
        before = task_state(row) if row else None
        after: State = dict(before or {"output_kind": env_task.output_kind, "description": ""})
        after.update(
            provider=proposed.primary.provider,
            model=proposed.primary.model,
            fallbacks=[{"provider": r.provider, "model": r.model} for r, _ in proposed.fallbacks],
        )
        after.setdefault("timeout_seconds", proposed.timeout_seconds)
        after.setdefault("max_retries", proposed.max_retries)
        if after == before:
            continue
        problems = check_task(
            task=env_task.name,
            output_kind=after["output_kind"],
            primary=proposed.primary,
            fallbacks=[r for r, _ in proposed.fallbacks],
            timeout_seconds=after["timeout_seconds"],
            max_retries=after["max_retries"],
            providers=snapshot.providers,
            environ=environ,
        )
        plan.append(
            PlannedChange(ConfigChange.Target.TASK, env_task.name, before, after, tuple(problems))
        )
    return plan


def apply_env(
    *,
    environ: Mapping[str, str],
    dry_run: bool = False,
    tasks: Sequence[str] | None = None,
    user: User = None,
) -> list[PlannedChange]:
    """Make the database follow the environment again, on purpose.

    Applies to the tasks the environment mentions (or only `tasks`) and to base URLs it
    sets. With `dry_run`, or when any planned value breaks a rule, nothing is written;
    the latter raises `ConfigValidationError` naming every problem.
    """
    plan = plan_env_apply(environ=environ, tasks=tasks)
    errors = [p for change in plan for p in change.errors]
    if errors and not dry_run:
        raise ConfigValidationError(errors)
    if dry_run:
        return plan
    with transaction.atomic():
        for change in plan:
            if change.target_type == ConfigChange.Target.PROVIDER:
                update_provider(name=change.name, channel=Channel.ENV, user=user, **change.after)
            elif change.before is None:
                add_task(
                    name=change.name,
                    output_kind=change.after["output_kind"],
                    provider=change.after["provider"],
                    model=change.after["model"],
                    fallbacks=change.after["fallbacks"],
                    channel=Channel.ENV,
                    user=user,
                    source=Source.ENV,
                    environ=environ,
                )
            else:
                update_task_config(
                    task=change.name,
                    provider=change.after["provider"],
                    model=change.after["model"],
                    fallbacks=change.after["fallbacks"],
                    channel=Channel.ENV,
                    user=user,
                    source=Source.ENV,
                    environ=environ,
                )
    return plan
