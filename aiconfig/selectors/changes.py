"""Reads of the change history: lists, per-object versions, what a revert would undo."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from aiconfig.models import ConfigChange


def list_changes(
    *, target: str | None = None, channel: str | None = None
) -> QuerySet[ConfigChange]:
    """Configuration changes, newest first, with who made them and what reverted them."""
    changes = ConfigChange.objects.select_related("user").prefetch_related("reverted_by")
    if target:
        changes = changes.filter(target_type=target)
    if channel:
        changes = changes.filter(channel=channel)
    return changes.order_by("-id")


def change_version(*, target_type: str, target_name: str) -> int:
    """The version of one task/provider/model: the id of its newest change (0 before any).

    Edit forms carry it; a save whose version is no longer the newest is refused.
    """
    newest = (
        ConfigChange.objects.filter(target_type=target_type, target_name=target_name)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return int(newest or 0)


def change_state(*, target_type: str, target_name: str, change_id: int) -> dict[str, Any] | None:
    """The object's recorded state right after its change `change_id` (None if none such)."""
    after = (
        ConfigChange.objects.filter(pk=change_id, target_type=target_type, target_name=target_name)
        .values_list("after", flat=True)
        .first()
    )
    return after if isinstance(after, dict) else None


def changes_since(*, target_type: str, target_name: str, after_id: int) -> list[ConfigChange]:
    """Changes to one object newer than change `after_id`, oldest first, with their users."""
    return list(
        ConfigChange.objects.filter(
            target_type=target_type, target_name=target_name, id__gt=after_id
        )
        .select_related("user")
        .order_by("id")
    )


def later_changes(*, change: ConfigChange) -> list[ConfigChange]:
    """Changes to the same object made after `change`: what reverting it would also undo."""
    return changes_since(
        target_type=change.target_type, target_name=change.target_name, after_id=change.pk
    )
