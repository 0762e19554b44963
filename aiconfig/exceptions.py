"""Errors the service layer raises to its callers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


class StaleEdit(AIConfigError):
    """A save based on an old version: someone changed the object since it was opened.

    `changes` are the newer `ConfigChange` rows (oldest first), so callers can say
    who changed what; `version` is the current one, to save again on purpose.
    """

    def __init__(
        self, *, target_type: str, target_name: str, version: int, changes: Sequence[Any]
    ) -> None:
        self.target_type = target_type
        self.target_name = target_name
        self.version = version
        self.changes = list(changes)
        who = "; ".join(
            f"#{c.pk} by {c.user.get_username() if c.user else c.channel}: {c.summary}"
            for c in self.changes
        )
        super().__init__(
            f"{target_type.capitalize()} '{target_name}' was changed since it was opened"
            + (f" ({who})" if who else "")
            + ". Nothing was saved; review the newer values and save again."
        )


class RevertNeedsConfirmation(AIConfigError):
    """Reverting would also discard later changes to the same object; confirm to go ahead.

    `later` holds those later `ConfigChange` rows (oldest first); `explanation` says
    in one sentence what the revert would do to them.
    """

    def __init__(self, *, change_id: int, later: Sequence[Any], explanation: str) -> None:
        self.change_id = change_id
        self.later = list(later)
        self.explanation = explanation
        super().__init__(
            f"{explanation} Confirm to revert anyway "
            "(`confirm_later_changes=True`, or `--confirm` on the command line)."
        )
