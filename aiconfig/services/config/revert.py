"""Reverting a recorded change: the object goes back to its state before that change."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from aiconfig.exceptions import RevertNeedsConfirmation
from aiconfig.models import Channel, ConfigChange, ModelPrice, Provider, ProviderModel, TaskType
from aiconfig.selectors import later_changes
from aiconfig.services.config.prices import delete_model_price, save_model_price
from aiconfig.services.config.providers import (
    add_provider,
    delete_provider,
    delete_provider_model,
    save_provider_model,
    update_provider,
)
from aiconfig.services.config.tasks import add_task, delete_task, update_task_config
from aiconfig.services.history import (
    User,
    describe_revert,
    model_state,
    price_state,
    provider_state,
    task_state,
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
