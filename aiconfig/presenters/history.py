"""The History page: change rows with their Revert buttons, and the revert confirm step."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aiconfig.catalog import BUILTIN_PROVIDERS_BY_NAME, BUILTIN_TASKS_BY_NAME
from aiconfig.models import ConfigChange
from aiconfig.presenters.common import CHANNEL_LABELS, TARGET_LABELS, change_line
from aiconfig.services.history import describe_revert

REVERTIBLE_TARGETS = frozenset(
    {ConfigChange.Target.TASK, ConfigChange.Target.PROVIDER, ConfigChange.Target.MODEL}
)
# Reverting their creation would delete a built-in, which the services refuse: no button.
BUILTIN_NAMES: dict[str, frozenset[str]] = {
    ConfigChange.Target.TASK: frozenset(BUILTIN_TASKS_BY_NAME),
    ConfigChange.Target.PROVIDER: frozenset(BUILTIN_PROVIDERS_BY_NAME),
}
# Why a change has no Revert button even for a superuser, shown on its row.
NOT_REVERTABLE: dict[str, str] = {
    ConfigChange.Target.CALLLOG: "Pruned call-log rows are gone for good: this cannot be reverted.",
    ConfigChange.Target.BUDGET: "Change budgets on the Budgets page (or with ai_budget).",
    ConfigChange.Target.ALERT: "Change alert rules on the Budgets page (or with ai_alerts).",
}
# How `services.playground.promote` names the run that justified a change.
PLAYGROUND_RUN_RE = re.compile(r"\(from playground run #(\d+)\)")
# Permission needed to revert a change, by what it changed.
REVERT_PERMISSIONS: dict[str, str] = {
    ConfigChange.Target.TASK: "aiconfig.change_taskassignment",
    ConfigChange.Target.PROVIDER: "aiconfig.change_provider",
    ConfigChange.Target.MODEL: "aiconfig.change_providermodel",
}


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One history entry."""

    change: ConfigChange
    who: str
    channel_label: str
    target_label: str
    before_json: str
    after_json: str
    can_revert: bool
    reverted_by: tuple[int, ...]
    error: str = ""
    note: str = ""

    @property
    def dom_id(self) -> str:
        """The row's element id."""
        return f"change-{self.change.pk}"

    @property
    def playground_run(self) -> int | None:
        """The playground run a "Use for task" change came from, for a link to it."""
        match = PLAYGROUND_RUN_RE.search(self.change.summary or "")
        return int(match.group(1)) if match else None


def pretty_json(value: Any) -> str:
    """Indented, key-sorted JSON, or "—" for nothing (a create has no before)."""
    if value is None:
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def change_rows(
    changes: Iterable[ConfigChange],
    *,
    permissions: Iterable[str] = (),
    errors: Mapping[int, str] | None = None,
) -> list[ChangeRow]:
    """History rows; `permissions` (the user's) decide where a Revert button shows.

    `errors` maps a change id to why reverting it just failed, shown on its row.
    """
    allowed = set(permissions)
    errors = errors or {}
    rows: list[ChangeRow] = []
    for change in changes:
        who = change.user.get_username() if change.user else ""
        rows.append(
            ChangeRow(
                change=change,
                who=who,
                channel_label=CHANNEL_LABELS.get(change.channel, change.channel),
                target_label=TARGET_LABELS.get(change.target_type, change.target_type),
                before_json=pretty_json(change.before),
                after_json=pretty_json(change.after),
                can_revert=change.target_type in REVERTIBLE_TARGETS
                and REVERT_PERMISSIONS.get(change.target_type, "") in allowed
                and not (
                    change.action == ConfigChange.Action.CREATE
                    and change.target_name in BUILTIN_NAMES.get(change.target_type, ())
                ),
                reverted_by=tuple(r.pk for r in change.reverted_by.all()),
                error=errors.get(change.pk, ""),
                note=NOT_REVERTABLE.get(change.target_type, ""),
            )
        )
    return rows


@dataclass(frozen=True, slots=True)
class RevertPlan:
    """The confirm step of a revert: what it will do, and which later changes it undoes."""

    change: ConfigChange
    explanation: str
    later: tuple[str, ...]
    version: int  # the object's version when this was shown; confirming checks it again
    moved: bool = False  # the object changed again while the confirmation was open


def revert_plan(
    change: ConfigChange, later: Sequence[ConfigChange], *, version: int, moved: bool = False
) -> RevertPlan:
    """Describe reverting `change` given the `later` changes to the same object."""
    return RevertPlan(
        change=change,
        explanation=describe_revert(change, list(later)),
        later=tuple(change_line(c) for c in later),
        version=version,
        moved=moved,
    )
