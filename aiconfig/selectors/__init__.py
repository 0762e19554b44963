"""Reads: the effective configuration, cheaply, in every process, and the reports.

One module per job: `config` (the configuration snapshot, cached per process),
`changes` (the change history), `usage` (usage read from the call log), `rollup`
(usage read through the hourly rollup), `usage_report` (the Usage page's figures),
`playground` (saved runs) and `tokens` (the gateway's API tokens). The names are
re-exported here, so `from aiconfig.selectors import config_snapshot` keeps working.
"""

from __future__ import annotations

from aiconfig.selectors.changes import (
    change_state,
    change_version,
    changes_since,
    later_changes,
    list_changes,
)
from aiconfig.selectors.config import (
    PROVIDER_ROW_FIELDS,
    cached_snapshot,
    clear_config_cache,
    config_snapshot,
    config_version,
    get_provider,
    get_task_config,
    list_providers,
    list_task_configs,
    load_snapshot,
    providers_in_use,
    snapshot_at_version,
)
from aiconfig.selectors.playground import playground_run_from, recent_playground_runs
from aiconfig.selectors.rollup import (
    ROLLUP_COST_PRECISION,
    ROLLUP_COST_UNITS,
    RollupDrift,
    last_prune_cutoff,
    rollup_drift,
    usage_summary,
)
from aiconfig.selectors.tokens import (
    find_token,
    find_token_at_version,
    hash_secret,
    list_tokens,
    month_start,
    token_month_spend,
)
from aiconfig.selectors.usage import (
    FAILED_OUTCOMES,
    UsageRow,
    _usage_summary_from_log,
    percentile,
    recent_failures,
)

__all__ = [
    "FAILED_OUTCOMES",
    "PROVIDER_ROW_FIELDS",
    "ROLLUP_COST_PRECISION",
    "ROLLUP_COST_UNITS",
    "RollupDrift",
    "UsageRow",
    "_usage_summary_from_log",
    "cached_snapshot",
    "change_state",
    "change_version",
    "changes_since",
    "clear_config_cache",
    "config_snapshot",
    "config_version",
    "find_token",
    "find_token_at_version",
    "get_provider",
    "get_task_config",
    "hash_secret",
    "last_prune_cutoff",
    "later_changes",
    "list_changes",
    "list_providers",
    "list_task_configs",
    "list_tokens",
    "load_snapshot",
    "month_start",
    "percentile",
    "playground_run_from",
    "providers_in_use",
    "recent_failures",
    "recent_playground_runs",
    "rollup_drift",
    "snapshot_at_version",
    "token_month_spend",
    "usage_summary",
]
