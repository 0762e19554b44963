"""Writes to the AI configuration (the seed's AITaskConfigService), validated and recorded.

Every function here validates with `aiconfig.validation`, writes in one
transaction, and records a `ConfigChange`. Recording bumps the configuration
version, so the next call in any process reads the new configuration.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from aiconfig.catalog import DEFAULT_TIMEOUT_SECONDS
from aiconfig.endpoints import ENDPOINT_FIELDS, require_endpoint_permission
from aiconfig.exceptions import (
    RevertNeedsConfirmation,
    StaleEdit,
    UnknownProvider,
    UnknownTask,
)
from aiconfig.models import (
    Channel,
    ConfigChange,
    ModelPrice,
    OutputKind,
    Provider,
    ProviderKind,
    ProviderModel,
    Source,
    TaskAssignment,
    TaskFallback,
    TaskType,
)
from aiconfig.selectors import (
    PROVIDER_ROW_FIELDS,
    change_version,
    changes_since,
    get_task_config,
    later_changes,
    load_snapshot,
    providers_in_use,
)
from aiconfig.services.history import (
    PROVIDER_FIELDS,
    User,
    describe_revert,
    model_state,
    price_state,
    provider_state,
    record_change,
    task_state,
)
from aiconfig.snapshots import ProviderInfo, Route, TaskConfig
from aiconfig.validation import (
    ENV_VAR_RE,
    MAX_DESCRIPTION,
    MAX_PROVIDER_NAME,
    ConfigProblem,
    check_length,
    check_model_name,
    check_name,
    check_provider,
    check_provider_limits,
    check_task,
    raise_for_problems,
)

RouteInput = Route | tuple[str, str] | Mapping[str, str] | str


class ConfigValidationError(ValidationError):
    """A proposed change breaks a rule; `problems` holds every error, keyed by field."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        by_field: dict[str, list[str]] = {}
        for problem in self.problems:
            by_field.setdefault(problem.field, []).append(problem.text)
        super().__init__(by_field)

    def __str__(self) -> str:
        return "\n".join(p.text for p in self.problems)


def _raise_on_errors(problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    errors = [p for p in problems if p.is_error]
    if errors:
        raise ConfigValidationError(errors)
    return [p for p in problems if not p.is_error]


def check_version(*, target_type: str, target_name: str, expected_version: int | None) -> None:
    """Refuse a save based on an old version (None: the caller does not track versions).

    Call it inside the write's transaction, after locking the row, so two saves
    based on the same version cannot both pass.
    """
    if expected_version is None:
        return
    current = change_version(target_type=target_type, target_name=target_name)
    if current != expected_version:
        raise StaleEdit(
            target_type=target_type,
            target_name=target_name,
            version=current,
            changes=changes_since(
                target_type=target_type,
                target_name=target_name,
                # A forged or future version lists every change rather than none.
                after_id=expected_version if expected_version < current else 0,
            ),
        )


def to_route(value: RouteInput) -> Route:
    """Accept `Route`, `(provider, model)`, `{"provider":…, "model":…}` or `"provider:model"`."""
    if isinstance(value, Route):
        return Route(value.provider.strip().lower(), value.model.strip())
    if isinstance(value, str):
        return Route.parse(value)
    if isinstance(value, Mapping):
        return Route(
            str(value.get("provider", "")).strip().lower(), str(value.get("model", "")).strip()
        )
    provider, model = value
    return Route(provider.strip().lower(), (model or "").strip())


def _with_default_model(
    route: Route, *, output_kind: str, providers: Mapping[str, ProviderInfo]
) -> tuple[Route, bool]:
    """Fill a blank model from the provider's default for the task's output kind."""
    if route.model:
        return route, False
    provider = providers.get(route.provider)
    default = provider.default_model_for(output_kind) if provider else ""
    return Route(route.provider, default), bool(default)


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


# --- providers -------------------------------------------------------------


def provider_info(row: Provider) -> ProviderInfo:
    """A provider row as the plain `ProviderInfo` the rules and calls work with."""
    return ProviderInfo.build(
        name=row.name, fields={f: getattr(row, f) for f in PROVIDER_ROW_FIELDS}
    )


def _validate_provider_fields(fields: Mapping[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if "kind" in fields and fields["kind"] not in ProviderKind.values:
        errors["kind"] = [f"Unknown kind '{fields['kind']}'. Use one of: "
                          f"{', '.join(ProviderKind.values)}."]  # fmt: skip
    env_var = fields.get("api_key_env")
    if env_var and not ENV_VAR_RE.match(env_var):
        # Never echo the value: a pasted key would end up in a page or a log.
        errors["api_key_env"] = [
            "That is not an environment variable name. Enter the variable's name "
            "(e.g. MYPROVIDER_API_KEY), never the key itself."
        ]
    for problem in check_provider_limits(fields):
        errors.setdefault(problem.field, []).append(problem.text)
    if errors:
        raise ValidationError(errors)


# Problems of where requests go; they block a save that touches the endpoint, not one
# that only, say, disables a provider stored before the rule existed.
_ENDPOINT_PROBLEMS = {"endpoint_not_allowed": "base_url", "key_variable_not_allowed": "api_key_env"}


def _check_provider_row(row: Provider, *, changed: Collection[str] | None = None) -> None:
    """Raise for the row's errors; `changed` (None: everything) limits the endpoint rules."""
    in_use = providers_in_use(load_snapshot()).get(row.name, [])
    problems = [
        p
        for p in check_provider(provider=provider_info(row), in_use_by=in_use)
        if p.code not in _ENDPOINT_PROBLEMS
        or changed is None
        or _ENDPOINT_PROBLEMS[p.code] in changed
    ]
    # A bad URL is always an error when saving, used or not: nobody wants to store one.
    errors = [p for p in problems if p.code == "malformed_base_url" or p.is_error]
    if errors:
        raise ConfigValidationError(errors)


def update_provider(
    *,
    name: str,
    channel: str = Channel.CODE,
    user: User = None,
    expected_version: int | None = None,
    **changes: Any,
) -> ProviderInfo:
    """Change a provider's settings (`base_url`, `enabled`, `api_key_env`, ...), validated.

    With `expected_version`, a provider changed since raises `StaleEdit` (nothing saved).
    Changing `base_url` or `api_key_env` decides where the provider's key is sent: with a
    `user`, that needs `aiconfig.manage_endpoints` (PermissionDenied otherwise, nothing
    saved). `user=None` is the system itself (env seeding, migrations, an operator's CLI).
    """
    unknown = set(changes) - set(PROVIDER_FIELDS)
    if unknown:
        raise ValidationError(f"Unknown provider field(s): {', '.join(sorted(unknown))}.")
    for key in ("base_url", "api_key_env", "label", "default_text_model", "default_image_model"):
        if isinstance(changes.get(key), str):
            changes[key] = changes[key].strip()
    _validate_provider_fields(changes)
    with transaction.atomic():
        try:
            row = Provider.objects.select_for_update().get(name=name)
        except Provider.DoesNotExist:
            raise UnknownProvider(name) from None
        check_version(
            target_type=ConfigChange.Target.PROVIDER,
            target_name=name,
            expected_version=expected_version,
        )
        before = provider_state(row)
        endpoint_changes = [f for f in ENDPOINT_FIELDS if f in changes and changes[f] != before[f]]
        require_endpoint_permission(user, provider=name, fields=endpoint_changes)
        for key, value in changes.items():
            setattr(row, key, value)
        if "base_url" in changes and changes["base_url"] != before["base_url"]:
            row.base_url_source = Source.ENV if channel == Channel.ENV else Source.EDITED
        _check_provider_row(row, changed=endpoint_changes)
        row.save()
        after = provider_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.PROVIDER,
                target_name=name,
                before=before,
                after=after,
                channel=channel,
                user=user,
            )
    return provider_info(row)


def add_provider(
    *,
    name: str,
    kind: str = ProviderKind.OPENAI_COMPATIBLE,
    base_url: str = "",
    api_key_env: str = "",
    label: str = "",
    key_required: bool | None = None,
    enabled: bool = True,
    self_hosted: bool = False,
    pricing_id: str = "",
    default_text_model: str = "",
    default_image_model: str = "",
    channel: str = Channel.CODE,
    user: User = None,
) -> ProviderInfo:
    """Add a provider (usually a custom OpenAI-compatible endpoint).

    A provider that reads a key (`api_key_env` set) needs `aiconfig.manage_endpoints`
    when a `user` is given; anyone who may add providers can add a keyless one (a local
    Ollama). `user=None` is the system itself, as for `update_provider`.
    """
    name = name.strip().lower()
    raise_for_problems(check_name(name, kind="provider"))
    fields = {
        "label": label.strip(),
        "kind": kind,
        "base_url": base_url.strip(),
        "api_key_env": api_key_env.strip(),
        "key_required": bool(api_key_env.strip()) if key_required is None else key_required,
        "enabled": enabled,
        "self_hosted": self_hosted,
        "pricing_id": pricing_id.strip(),
        "default_text_model": default_text_model.strip(),
        "default_image_model": default_image_model.strip(),
    }
    if fields["api_key_env"]:
        require_endpoint_permission(user, provider=name, fields=["api_key_env"])
    _validate_provider_fields(fields)
    if kind == ProviderKind.OPENAI_COMPATIBLE and not fields["base_url"]:
        raise ValidationError({"base_url": ["An OpenAI-compatible provider needs a base URL."]})
    with transaction.atomic():
        if Provider.objects.filter(name=name).exists():
            raise ValidationError({"name": [f"A provider named '{name}' already exists."]})
        row = Provider(name=name, base_url_source=Source.EDITED, **fields)
        _check_provider_row(row)
        row.save()
        record_change(
            target_type=ConfigChange.Target.PROVIDER,
            target_name=name,
            before=None,
            after=provider_state(row),
            channel=channel,
            user=user,
        )
    return provider_info(row)


def delete_provider(*, name: str, channel: str = Channel.CODE, user: User = None) -> None:
    """Delete a user-added provider that no task uses."""
    with transaction.atomic():
        try:
            row = Provider.objects.select_for_update().get(name=name)
        except Provider.DoesNotExist:
            raise UnknownProvider(name) from None
        if row.builtin:
            raise ValidationError(
                f"'{name}' is a built-in provider; disable it instead of deleting it."
            )
        users = providers_in_use(load_snapshot()).get(name, [])
        if users:
            raise ValidationError(
                f"Provider '{name}' is used by {', '.join(users)}; reassign those tasks first."
            )
        before = provider_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.PROVIDER,
            target_name=name,
            before=before,
            after=None,
            channel=channel,
            user=user,
        )


def save_provider_model(
    *,
    provider: str,
    name: str,
    supports_text: bool = False,
    supports_image: bool = False,
    supports_structured: bool = False,
    supports_tools: bool = False,
    notes: str = "",
    channel: str = Channel.CODE,
    user: User = None,
    expected_version: int | None = None,
) -> None:
    """Add a model to a provider's list, or update its capabilities.

    With `expected_version`, a model changed since raises `StaleEdit` (nothing saved).
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": ["Enter the model's name."]})
    raise_for_problems(check_model_name(name, field="name"))
    with transaction.atomic():
        try:
            provider_row = Provider.objects.select_for_update().get(name=provider)
        except Provider.DoesNotExist:
            raise UnknownProvider(provider) from None
        check_version(
            target_type=ConfigChange.Target.MODEL,
            target_name=f"{provider}/{name}",
            expected_version=expected_version,
        )
        row = ProviderModel.objects.filter(provider=provider_row, name=name).first()
        before = model_state(row) if row else None
        row = row or ProviderModel(provider=provider_row, name=name)
        row.supports_text = supports_text
        row.supports_image = supports_image
        row.supports_structured = supports_structured
        row.supports_tools = supports_tools
        row.notes = notes.strip()
        row.save()
        after = model_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.MODEL,
                target_name=f"{provider}/{name}",
                before=before,
                after=after,
                channel=channel,
                user=user,
            )


def delete_provider_model(
    *, provider: str, name: str, channel: str = Channel.CODE, user: User = None
) -> None:
    """Remove a model from a provider's list (assignments naming it keep working)."""
    with transaction.atomic():
        row = ProviderModel.objects.filter(provider__name=provider, name=name).first()
        if row is None:
            raise ValidationError(f"Provider '{provider}' lists no model '{name}'.")
        before = model_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.MODEL,
            target_name=f"{provider}/{name}",
            before=before,
            after=None,
            channel=channel,
            user=user,
        )


# --- prices ----------------------------------------------------------------------


def _price_key(provider: str, model: str, image_size: str, image_quality: str) -> str:
    extra = "/".join(x for x in (image_size, image_quality) if x)
    return f"{provider}/{model}" + (f" [{extra}]" if extra else "")


def save_model_price(
    *,
    provider: str,
    model: str,
    input_per_million: Decimal | str | None = None,
    output_per_million: Decimal | str | None = None,
    per_image: Decimal | str | None = None,
    image_size: str = "",
    image_quality: str = "",
    channel: str = Channel.CODE,
    user: User = None,
    cached_input_per_million: Decimal | str | None = None,
    cache_write_per_million: Decimal | str | None = None,
) -> None:
    """Set a price that overrides the bundled prices for one provider's model.

    Cache rates left blank bill cache reads / writes at the input price.
    """
    provider, model = provider.strip().lower(), model.strip()
    if not provider or not model:
        raise ValidationError("A price needs a provider and a model.")
    raise_for_problems(
        check_length(provider, limit=MAX_PROVIDER_NAME, field="provider", what="Provider name")
        + check_model_name(model)
    )
    values: dict[str, Decimal | None] = {}
    for name, raw in (
        ("input_per_million", input_per_million),
        ("output_per_million", output_per_million),
        ("per_image", per_image),
        ("cached_input_per_million", cached_input_per_million),
        ("cache_write_per_million", cache_write_per_million),
    ):
        try:
            value = None if raw in (None, "") else Decimal(str(raw))
        except InvalidOperation:
            raise ValidationError({name: [f"'{raw}' is not a number."]}) from None
        if value is not None and (value < 0 or not value.is_finite()):
            raise ValidationError({name: ["Prices cannot be negative."]})
        values[name] = value
    if all(v is None for v in values.values()):
        raise ValidationError("Give a token price, an image price, or both.")
    with transaction.atomic():
        row = ModelPrice.objects.filter(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        ).first()
        before = price_state(row) if row else None
        row = row or ModelPrice(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        )
        for name, value in values.items():
            setattr(row, name, value)
        row.save()
        after = price_state(row)
        if after != before:
            record_change(
                target_type=ConfigChange.Target.PRICE,
                target_name=_price_key(provider, model, image_size, image_quality),
                before=before,
                after=after,
                channel=channel,
                user=user,
            )


def delete_model_price(
    *,
    provider: str,
    model: str,
    image_size: str = "",
    image_quality: str = "",
    channel: str = Channel.CODE,
    user: User = None,
) -> None:
    """Remove a price override; the bundled price applies again."""
    with transaction.atomic():
        row = ModelPrice.objects.filter(
            provider=provider, model=model, image_size=image_size, image_quality=image_quality
        ).first()
        if row is None:
            raise ValidationError(f"No price override for {provider}/{model}.")
        before = price_state(row)
        row.delete()
        record_change(
            target_type=ConfigChange.Target.PRICE,
            target_name=_price_key(provider, model, image_size, image_quality),
            before=before,
            after=None,
            channel=channel,
            user=user,
        )


# --- revert ----------------------------------------------------------------


def _current_state(change: ConfigChange) -> dict[str, Any] | None:
    """The changed object's state now, comparable with the change's `before`/`after`."""
    name = change.target_name
    if change.target_type == ConfigChange.Target.TASK:
        task_row = TaskType.objects.filter(name=name).first()
        return task_state(task_row) if task_row else None
    if change.target_type == ConfigChange.Target.PROVIDER:
        provider_row = Provider.objects.filter(name=name).first()
        return provider_state(provider_row) if provider_row else None
    if change.target_type == ConfigChange.Target.MODEL:
        provider, _, model = name.partition("/")
        model_row = ProviderModel.objects.filter(provider__name=provider, name=model).first()
        return model_state(model_row) if model_row else None
    state = change.before or change.after or {}
    price_row = ModelPrice.objects.filter(
        **{k: state.get(k, "") for k in ("provider", "model", "image_size", "image_quality")}
    ).first()
    return price_state(price_row) if price_row else None


def revert_change(
    *,
    change_id: int,
    channel: str = Channel.CODE,
    user: User = None,
    confirm_later_changes: bool = False,
) -> ConfigChange:
    """Put the target of a recorded change back to its `before` state; the revert is recorded.

    Goes through the same validated services as any edit, so a revert that would
    break a rule (say, to a provider deleted since) fails with that rule's message.
    When the object was changed again after `change_id`, reverting would silently
    discard those later changes too: it raises `RevertNeedsConfirmation` (naming
    them, see `selectors.later_changes`) unless `confirm_later_changes` is True.
    """
    change = ConfigChange.objects.get(pk=change_id)
    before = change.before
    name = change.target_name
    with transaction.atomic():
        if _current_state(change) == before:
            raise ValidationError(
                f"Nothing to revert: {change.target_type} '{name}' is already as it was "
                f"before change #{change.pk}."
            )
        later = later_changes(change=change)
        if later and not confirm_later_changes:
            raise RevertNeedsConfirmation(
                change_id=change.pk, later=later, explanation=describe_revert(change, later)
            )
        latest_before = ConfigChange.objects.order_by("-id").values_list("id", flat=True).first()
        if change.target_type == ConfigChange.Target.TASK:
            _revert_task(name=name, state=before, channel=channel, user=user)
        elif change.target_type == ConfigChange.Target.PROVIDER:
            _revert_provider(name=name, state=before, channel=channel, user=user)
        elif change.target_type == ConfigChange.Target.PRICE:
            state = before or change.after or {}
            key = {k: state[k] for k in ("provider", "model", "image_size", "image_quality")}
            if before is None:
                delete_model_price(channel=channel, user=user, **key)
            else:
                save_model_price(channel=channel, user=user, **before)
        elif change.target_type == ConfigChange.Target.MODEL:
            provider, _, model = name.partition("/")
            if before is None:
                delete_provider_model(provider=provider, name=model, channel=channel, user=user)
            else:
                save_provider_model(
                    provider=provider, name=model, channel=channel, user=user, **before
                )
        else:
            raise ValidationError(f"Changes to {change.target_type} cannot be reverted here.")
        new = ConfigChange.objects.filter(pk__gt=latest_before or 0).order_by("-id").first()
        if new is None:
            raise ValidationError(
                f"Nothing to revert: {change.target_type} '{name}' is already as it was "
                f"before change #{change.pk}."
            )
        new.reverts = change
        new.summary = f"revert of #{change.pk}: {new.summary}"[:500]
        new.save(update_fields=["reverts", "summary"])
    return new


def _revert_task(*, name: str, state: dict[str, Any] | None, channel: str, user: User) -> None:
    exists = TaskType.objects.filter(name=name).exists()
    if state is None:
        delete_task(name=name, channel=channel, user=user)
        return
    if not exists:
        add_task(
            name=name,
            output_kind=state["output_kind"],
            provider=state["provider"],
            model=state["model"],
            fallbacks=state.get("fallbacks", []),
            description=state.get("description", ""),
            timeout_seconds=state.get("timeout_seconds"),
            max_retries=state.get("max_retries", 0),
            channel=channel,
            user=user,
        )
        return
    update_task_config(
        task=name,
        provider=state["provider"],
        model=state["model"],
        fallbacks=state.get("fallbacks", []),
        timeout_seconds=state.get("timeout_seconds"),
        max_retries=state.get("max_retries"),
        total_timeout_seconds=state.get("total_timeout_seconds") or 0,
        output_kind=state.get("output_kind"),
        description=state.get("description"),
        channel=channel,
        user=user,
    )


def _revert_provider(*, name: str, state: dict[str, Any] | None, channel: str, user: User) -> None:
    if state is None:
        delete_provider(name=name, channel=channel, user=user)
    elif not Provider.objects.filter(name=name).exists():
        add_provider(name=name, channel=channel, user=user, **state)
    else:
        update_provider(name=name, channel=channel, user=user, **state)
