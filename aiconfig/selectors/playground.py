"""Reads of saved playground runs."""

from __future__ import annotations

from aiconfig.models import PlaygroundRun


def recent_playground_runs(*, limit: int = 20) -> list[PlaygroundRun]:
    """The newest saved playground runs, with who ran them."""
    return list(PlaygroundRun.objects.select_related("user")[:limit])


def playground_run_from(value: str) -> PlaygroundRun | None:
    """The saved run a form names by id (e.g. `from_run`), or None for no such run."""
    return PlaygroundRun.objects.filter(pk=int(value)).first() if value.isdigit() else None
