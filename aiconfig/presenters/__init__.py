"""View models for the dashboard: plain objects shaped for the templates, one module per page.

Templates only print what these functions prepare, so every decision about what a page
shows (labels, which problem goes where, how a key is masked) lives in Python and can be
tested without rendering HTML. Numbers are formatted by `aiconfig.formatting` (in
templates through the `aiconfig_format` filters). The names below are re-exported so
`from aiconfig import presenters; presenters.task_card(...)` keeps working.
"""

from __future__ import annotations

from aiconfig.presenters.common import StaleNotice, ago, change_line, stale_notice
from aiconfig.presenters.history import (
    REVERT_PERMISSIONS,
    ChangeRow,
    RevertPlan,
    change_rows,
    revert_plan,
)
from aiconfig.presenters.providers import (
    DisablePlan,
    ProviderCard,
    disable_plan,
    key_text,
    provider_card,
    provider_cards,
)
from aiconfig.presenters.tasks import (
    TaskCard,
    TryResult,
    public_attempts,
    task_card,
    try_failure,
    try_result,
)
from aiconfig.presenters.usage import USAGE_COLUMNS, usage_record

__all__ = [
    "REVERT_PERMISSIONS",
    "USAGE_COLUMNS",
    "ChangeRow",
    "DisablePlan",
    "ProviderCard",
    "RevertPlan",
    "StaleNotice",
    "TaskCard",
    "TryResult",
    "ago",
    "change_line",
    "change_rows",
    "disable_plan",
    "key_text",
    "provider_card",
    "provider_cards",
    "public_attempts",
    "revert_plan",
    "stale_notice",
    "task_card",
    "try_failure",
    "try_result",
    "usage_record",
]
