"""Writes to tasks: their chains, limits and descriptions; adding and deleting them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from aiconfig.catalog import DEFAULT_TIMEOUT_SECONDS
from aiconfig.exceptions import UnknownTask
from aiconfig.models import (
    Channel,
    ConfigChange,
    OutputKind,
    Source,
    TaskAssignment,
    TaskFallback,
    TaskType,
)
from aiconfig.selectors import get_task_config, load_snapshot
from aiconfig.services.config.common import (
    RouteInput,
    _raise_on_errors,
    _with_default_model,
    check_version,
    to_route,
)
from aiconfig.services.history import User, record_change, task_state
from aiconfig.snapshots import Route, TaskConfig
from aiconfig.validation import (
    MAX_DESCRIPTION,
    ConfigProblem,
    check_length,
    check_name,
    check_task,
    raise_for_problems,
)


@dataclass(frozen=True, slots=True)
class ProposedTask:
    """A complete assignment ready to validate and save."""

    output_kind: str
    primary: Route
    primary_defaulted: bool
    fallbacks: tuple[tuple[Route, bool], ...]
    timeout_seconds: float
    max_retries: int
    total_timeout_seconds: float | None = None


def validate_task_change(
    *,
    task: str,
    output_kind: str,
    primary: Route,
    fallbacks: Sequence[Route],
    timeout_seconds: float,
    max_retries: int,
    environ: Mapping[str, str] | None = None,
) -> list[ConfigProblem]:
    """All problems (errors and warnings) a proposed assignment would have."""
    providers = load_snapshot().providers
    return check_task(
        task=task,
        output_kind=output_kind,
        primary=primary,
        fallbacks=fallbacks,
        timeout_seconds=timeout_seconds,
        max_retries=max_retries,
        providers=providers,
        environ=environ,
    )


def _save_assignment(
    *,
    task: TaskType,
    proposed: ProposedTask,
    source: str,
    fallback_source: str,
) -> None:
    assignment, created = TaskAssignment.objects.select_for_update().get_or_create(
        task=task,
        defaults={"provider": proposed.primary.provider},
    )
    if created or Route(assignment.provider, assignment.model) != proposed.primary:
        assignment.source = source
    assignment.provider = proposed.primary.provider
    assignment.model = proposed.primary.model
    assignment.model_defaulted = proposed.primary_defaulted
    assignment.timeout_seconds = proposed.timeout_seconds
    assignment.max_retries = proposed.max_retries
    assignment.total_timeout_seconds = proposed.total_timeout_seconds
    assignment.save()

    old = [(Route(f.provider, f.model), f.source) for f in assignment.fallbacks.all()]
    new = [route for route, _ in proposed.fallbacks]
    if [route for route, _ in old] == new:
        return
    old_sources = dict(old)
    assignment.fallbacks.all().delete()
    TaskFallback.objects.bulk_create(
        TaskFallback(
            assignment=assignment,
            position=position,
            provider=route.provider,
            model=route.model,
            model_defaulted=defaulted,
            # A fallback that was already there keeps its origin; new ones get this edit's.
            source=old_sources.get(route, fallback_source),
        )
        for position, (route, defaulted) in enumerate(proposed.fallbacks)
    )


def update_task_config(
    *,
    task: str,
    provider: str | None = None,
    model: str | None = None,
    fallbacks: Sequence[RouteInput] | None = None,
    timeout_seconds: float | None = None,
    max_retries: int | None = None,
    total_timeout_seconds: float | None = None,
    output_kind: str | None = None,
    description: str | None = None,
    channel: str = Channel.CODE,
    user: User = None,
    source: str = Source.EDITED,
    environ: Mapping[str, str] | None = None,
    expected_version: int | None = None,
) -> TaskConfig:
    """Change a task's assignment; arguments left as None keep their current value.

    With `expected_version` (the task's version when the editor opened it, see
    `selectors.change_version`), a task changed since raises `StaleEdit` and saves nothing.
    `total_timeout_seconds=0` removes the task's total time limit.

    A provider given without a model gets that provider's default model for the
    task's output kind. Raises `ConfigValidationError` (nothing saved) when the
    result would break a rule; warnings (missing key, unknown capabilities) do not
    block saving. The change is effective for the next call in every process.
    """
    if description is not None:
        raise_for_problems(_description_problems(description))
    with transaction.atomic():
        try:
            task_row = TaskType.objects.select_for_update().get(name=task)
        except TaskType.DoesNotExist:
            raise UnknownTask(task, list(TaskType.objects.values_list("name", flat=True))) from None
        check_version(
            target_type=ConfigChange.Target.TASK,
            target_name=task,
            expected_version=expected_version,
        )
        before = task_state(task_row)
        snapshot = load_snapshot()
        current = snapshot.tasks.get(task)
        kind = output_kind or task_row.output_kind

        if provider is None and model is None:
            primary = current.primary.route if current else Route("", "")
            primary_defaulted = current.primary.model_defaulted if current else False
        else:
            base_provider = (
                provider if provider is not None else (current.provider if current else "")
            )
            primary, primary_defaulted = _with_default_model(
                to_route((base_provider, model or "")),
                output_kind=kind,
                providers=snapshot.providers,
            )
        if fallbacks is None:
            chain = (
                tuple((f.route, f.model_defaulted) for f in current.fallbacks) if current else ()
            )
        else:
            chain = tuple(
                _with_default_model(to_route(f), output_kind=kind, providers=snapshot.providers)
                for f in fallbacks
            )
        proposed = ProposedTask(
            output_kind=kind,
            primary=primary,
            primary_defaulted=primary_defaulted,
            fallbacks=chain,
            timeout_seconds=float(
                timeout_seconds
                if timeout_seconds is not None
                else (current.timeout_seconds if current else DEFAULT_TIMEOUT_SECONDS[kind])
            ),
            max_retries=int(
                max_retries if max_retries is not None else (current.max_retries if current else 0)
            ),
            total_timeout_seconds=(
                (current.total_timeout_seconds if current else None)
                if total_timeout_seconds is None
                else (float(total_timeout_seconds) or None)
            ),
        )
        _raise_on_errors(
            check_task(
                task=task,
                output_kind=kind,
                primary=proposed.primary,
                fallbacks=[route for route, _ in proposed.fallbacks],
                timeout_seconds=proposed.timeout_seconds,
                max_retries=proposed.max_retries,
                providers=snapshot.providers,
                environ=environ,
                total_timeout_seconds=proposed.total_timeout_seconds,
            )
        )
        if output_kind is not None or description is not None:
            task_row.output_kind = kind
            if description is not None:
                task_row.description = description.strip()
            task_row.save(update_fields=["output_kind", "description"])
        _save_assignment(task=task_row, proposed=proposed, source=source, fallback_source=source)
        after = task_state(task_row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.TASK,
                target_name=task,
                before=before,
                after=after,
                channel=channel,
                user=user,
            )
    return get_task_config(task=task)


def _description_problems(description: str) -> list[ConfigProblem]:
    return check_length(
        description.strip(), limit=MAX_DESCRIPTION, field="description", what="Description"
    )


def validate_task_name(name: str) -> str:
    """Normalise a new task's name, or raise ValidationError saying what is allowed."""
    normalised = name.strip().lower().replace("_", "-")
    raise_for_problems(check_name(normalised, kind="task"))
    return normalised


def add_task(
    *,
    name: str,
    output_kind: str = OutputKind.TEXT,
    provider: str,
    model: str = "",
    fallbacks: Sequence[RouteInput] = (),
    description: str = "",
    timeout_seconds: float | None = None,
    max_retries: int = 0,
    channel: str = Channel.CODE,
    user: User = None,
    source: str = Source.EDITED,
    builtin: bool = False,
    environ: Mapping[str, str] | None = None,
) -> TaskConfig:
    """Create a task type with its assignment, validated as a whole; nothing is saved on error."""
    name = validate_task_name(name)
    raise_for_problems(_description_problems(description))
    if output_kind not in OutputKind.values:
        raise ValidationError(
            {"output_kind": [f"Unknown output kind '{output_kind}'. Use one of: "
                             f"{', '.join(OutputKind.values)}."]}
        )  # fmt: skip
    with transaction.atomic():
        if TaskType.objects.filter(name=name).exists():
            raise ValidationError({"name": [f"A task named '{name}' already exists."]})
        snapshot = load_snapshot()
        primary, primary_defaulted = _with_default_model(
            to_route((provider, model)), output_kind=output_kind, providers=snapshot.providers
        )
        chain = tuple(
            _with_default_model(to_route(f), output_kind=output_kind, providers=snapshot.providers)
            for f in fallbacks
        )
        proposed = ProposedTask(
            output_kind=output_kind,
            primary=primary,
            primary_defaulted=primary_defaulted,
            fallbacks=chain,
            timeout_seconds=float(timeout_seconds or DEFAULT_TIMEOUT_SECONDS[output_kind]),
            max_retries=max_retries,
        )
        _raise_on_errors(
            check_task(
                task=name,
                output_kind=output_kind,
                primary=primary,
                fallbacks=[route for route, _ in chain],
                timeout_seconds=proposed.timeout_seconds,
                max_retries=max_retries,
                providers=snapshot.providers,
                environ=environ,
            )
        )
        task_row = TaskType.objects.create(
            name=name, output_kind=output_kind, description=description.strip(), builtin=builtin
        )
        _save_assignment(task=task_row, proposed=proposed, source=source, fallback_source=source)
        record_change(
            target_type=ConfigChange.Target.TASK,
            target_name=name,
            before=None,
            after=task_state(task_row),
            channel=channel,
            user=user,
        )
    return get_task_config(task=name)


def delete_task(*, name: str, channel: str = Channel.CODE, user: User = None) -> None:
    """Delete a user-added task. Built-in tasks cannot be deleted."""
    with transaction.atomic():
        try:
            task_row = TaskType.objects.select_for_update().get(name=name)
        except TaskType.DoesNotExist:
            raise UnknownTask(name, list(TaskType.objects.values_list("name", flat=True))) from None
        if task_row.builtin:
            raise ValidationError(f"'{name}' is a built-in task and cannot be deleted.")
        before = task_state(task_row)
        task_row.delete()
        record_change(
            target_type=ConfigChange.Target.TASK,
            target_name=name,
            before=before,
            after=None,
            channel=channel,
            user=user,
        )
