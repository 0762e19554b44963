"""Template filters for durations, money and tokens: `{% load aiconfig_format %}`.

Thin wrappers over `aiconfig.formatting`, which the CLI calls too, so a page and a
terminal show the same cost or latency the same way.
"""

from __future__ import annotations

from decimal import Decimal

from django import template

from aiconfig import formatting

register = template.Library()


@register.filter
def ms(value: float | None) -> str:
    """`{{ run.latency_ms|ms }}` → "840 ms", "2.3 s", "—"."""
    return formatting.ms(value)


@register.filter
def usd(value: Decimal | float | None) -> str:
    """`{{ run.cost_usd|usd }}` → "$0.000123", "$0", "unknown"."""
    return formatting.usd(value)


@register.filter
def tokens(input_tokens: int | None, output_tokens: int | None = None) -> str:
    """`{{ run.input_tokens|tokens:run.output_tokens }}` → "12 in · 30 out"."""
    return formatting.tokens(input_tokens, output_tokens)


@register.filter
def seconds(value: float | None) -> str:
    """`{{ config.timeout_seconds|seconds }}` → "60 s", "2.5 s"."""
    return formatting.seconds(value)
