"""Reads of saved playground runs."""

from __future__ import annotations

from aiconfig.models import PlaygroundRun


def recent_playground_runs(*, limit: int = 20) -> list[PlaygroundRun]:
    """The newest saved playground runs, with who ran them."""
    return list(PlaygroundRun.objects.select_related("user")[:limit])
