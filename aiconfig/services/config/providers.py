"""Writes to providers and their model lists; where keys go needs manage_endpoints."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from aiconfig.endpoints import ENDPOINT_FIELDS, require_endpoint_permission
from aiconfig.exceptions import UnknownProvider
from aiconfig.models import Channel, ConfigChange, Provider, ProviderKind, ProviderModel, Source
from aiconfig.selectors import PROVIDER_ROW_FIELDS, load_snapshot, providers_in_use
from aiconfig.services.config.common import ConfigValidationError, check_version
from aiconfig.services.history import (
    PROVIDER_FIELDS,
    User,
    model_state,
    provider_state,
    record_change,
)
from aiconfig.snapshots import ProviderInfo
from aiconfig.validation import (
    ENV_VAR_RE,
    check_model_name,
    check_name,
    check_provider,
    check_provider_limits,
    raise_for_problems,
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
