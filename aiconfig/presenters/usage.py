"""The usage exports (`ai_usage --json/--csv`, the page's CSV): one row per task/provider/model.

The page itself is `aiconfig.presenters.usage_page` and `usage_charts`.
"""

from __future__ import annotations

from typing import Any

from aiconfig.pricing import format_usd
from aiconfig.selectors import UsageRow

USAGE_COLUMNS = (
    "task",
    "provider",
    "model",
    "calls",
    "errors",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "images",
    "cost_usd",
    "unpriced_calls",
    "p50_latency_ms",
    "p95_latency_ms",
    "failed_calls",
)


def usage_record(row: UsageRow) -> dict[str, Any]:
    """A usage row as plain values for JSON and CSV (cost as a decimal string, never a float)."""
    values = {name: getattr(row, name) for name in USAGE_COLUMNS}
    values["cost_usd"] = format_usd(row.cost_usd)
    for key in ("p50_latency_ms", "p95_latency_ms"):
        if values[key] is not None:
            values[key] = round(values[key], 1)
    return values
