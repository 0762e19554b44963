"""How durations, money and token counts read, for pages and the command line alike.

One implementation: the template filters in `aiconfig.templatetags.aiconfig_format`
and the CLI commands (`ai_run`, `ai_usage`, `ai_config`) both call these, so a cost or a
latency reads the same wherever it is shown. Plain Python, no Django.
"""

from __future__ import annotations

import math
from decimal import Decimal

MISSING = "—"
UNKNOWN = "unknown"


def ms(value: float | None) -> str:
    """Milliseconds for people: "840 ms", "2.3 s"; "—" when there is no value."""
    if value is None:
        return MISSING
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.1f} s"


def usd(value: Decimal | float | None) -> str:
    """Dollars with enough digits for a single call ("$0.000123", "$1.2500"), or "unknown".

    Unknown is never shown as $0: $0 means the call is free (e.g. a self-hosted model).
    """
    if value is None:
        return UNKNOWN
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    if amount == 0:
        return "$0"
    if amount < Decimal("0.01"):
        return f"${amount:.6f}".rstrip("0")
    return f"${amount:.4f}"


def tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """ "12 in · 30 out", or "unknown" when the provider did not say."""
    if input_tokens is None and output_tokens is None:
        return UNKNOWN

    def count(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    return f"{count(input_tokens)} in · {count(output_tokens)} out"


def seconds(value: float | None) -> str:
    """Seconds as people write them ("60 s", "2.5 s"); NaN and infinity in words.

    `f"{value:g}s"` turned a NaN typed as `--timeout nan` into "timeout nans".
    """
    if value is None:
        return MISSING
    if math.isnan(value):
        return "not a number"
    if math.isinf(value):
        return "infinite"
    return f"{value:g} s"
