"""Errors the service layer raises to its callers."""

from __future__ import annotations


class AIConfigError(Exception):
    """Base class for aiconfig's own errors."""


class UnknownTask(AIConfigError, LookupError):
    """A task name that is not configured."""

    def __init__(self, task: str, known: list[str]) -> None:
        self.task = task
        self.known = known
        super().__init__(
            f"Unknown task '{task}'. Known tasks: {', '.join(known) or 'none'}. "
            "Add it on the Tasks page or with `manage.py ai_config add-task`."
        )


class UnknownProvider(AIConfigError, LookupError):
    """A provider name that is not configured."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"Unknown provider '{name}'.")
