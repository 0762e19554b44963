"""Labels and shapes more than one page uses: capability badges, who changed what.

The dashboard's view models ("presenters") are plain objects shaped for the templates:
templates only print what these functions prepare, so every decision about what a page
shows lives in Python and can be tested without rendering HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.utils import timezone
from django.utils.timesince import timesince

from aiconfig.enums import Channel, OutputKind, ProviderKind, Source
from aiconfig.exceptions import StaleEdit
from aiconfig.models import ConfigChange

CAPABILITY_LABELS: dict[str, str] = {
    "text": "Text",
    "image": "Image",
    "structured": "JSON",
    "tools": "Tools",
}
SOURCE_LABELS: dict[str, str] = {
    Source.ENV: "from env",
    Source.DEFAULT: "default",
    Source.EDITED: "edited",
}
OUTPUT_LABELS: dict[str, str] = dict(OutputKind.choices)
KIND_LABELS: dict[str, str] = dict(ProviderKind.choices)


@dataclass(frozen=True, slots=True)
class Badge:
    """A capability shown as a small pill; `needed` marks the one the task requires."""

    name: str
    label: str
    needed: bool = False


CHANNEL_LABELS: dict[str, str] = dict(Channel.choices)
TARGET_LABELS: dict[str, str] = dict(ConfigChange.Target.choices)


def ago(moment: datetime, *, now: datetime | None = None) -> str:
    """ "just now", "2 minutes ago", "3 days ago"."""
    now = now or timezone.now()
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def change_line(change: ConfigChange, *, now: datetime | None = None) -> str:
    """ "ada changed timeout 60.0 → 30.0 (2 minutes ago via Dashboard, #14)"."""
    who = change.user.get_username() if change.user else "someone"
    channel = CHANNEL_LABELS.get(change.channel, change.channel)
    when = ago(change.created_at, now=now)
    return f"{who} changed {change.summary} ({when} via {channel}, #{change.pk})"


@dataclass(frozen=True, slots=True)
class StaleNotice:
    """Why a save was refused: what changed since the form was opened, and by whom."""

    headline: str
    changes: tuple[str, ...]
    advice: str


def stale_notice(exc: StaleEdit) -> StaleNotice:
    """The message shown above a form whose save came from an old version."""
    target = TARGET_LABELS.get(exc.target_type, exc.target_type).lower()
    return StaleNotice(
        headline=f"Not saved: since you opened this, the {target} '{exc.target_name}' was "
        "changed by someone else.",
        changes=tuple(change_line(c) for c in exc.changes),
        advice="Your edits are still in the form; fields you had not touched now show the "
        "newer values. Review them, then save again to apply yours on top.",
    )
