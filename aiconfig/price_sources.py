"""How an attempt's cost was computed: which price, from where, in words.

It walks `aiconfig.pricing`'s order of precedence with today's prices (the admin's price
table, genai-prices, the built-in image table; self-hosted is $0; else unknown) and
says which one priced the attempt, at what rates, and whether today's prices still give
the cost that was logged. The call log does not keep an image's size and quality, so an
image attempt's per-image price is found by matching the logged cost.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from adapters import Usage
from aiconfig.enums import PriceSource

# The precedence helpers of `pricing`, reused so the explanation cannot drift from it.
from aiconfig.pricing import (
    IMAGE_PRICES,
    PRECISION,
    PriceTable,
    Rates,
    _linear_token_rates,
    _override,
    token_cost,
)
from aiconfig.snapshots import ProviderInfo

TIMES = "\u00d7"  # the multiplication sign


@dataclass(frozen=True, slots=True)
class CostExplanation:
    """Where an attempt's price came from and how its cost adds up."""

    source: PriceSource
    detail: str  # the rates and the sum, in words
    today: Decimal | None  # what today's prices give (None: no price known today)
    logged: Decimal | None

    @property
    def changed(self) -> bool:
        """True when today's prices give another cost than the one logged."""
        return self.today is not None and self.logged is not None and self.today != self.logged


def _usd(value: Decimal) -> str:
    return f"${value.normalize():f}"


def _token_sum(rates: Rates, usage: Usage) -> str:
    """The sum in words: "2 input x $3/1M + 1,000 cache reads x $0.3/1M + … + 5 output …"."""
    read = usage.cache_read_tokens or 0
    write = usage.cache_write_tokens or 0
    parts = [(max(0, (usage.input_tokens or 0) - read - write), "input", rates.input)]
    if read:
        parts.append((read, "cache reads", rates.cache_read or rates.input))
    if write:
        parts.append((write, "cache writes", rates.cache_write or rates.input))
    parts.append((usage.output_tokens or 0, "output", rates.output))
    return " + ".join(f"{count:,} {what} {TIMES} {_usd(rate)}/1M" for count, what, rate in parts)


def _rounded(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(PRECISION)


def explain_cost(
    *,
    provider: ProviderInfo | None,
    model: str,
    usage: Usage,
    prices: PriceTable,
    logged: Decimal | None,
    succeeded: bool,
) -> CostExplanation:
    """Which price priced this attempt, from where, and how its cost adds up."""

    def said(source: PriceSource, detail: str, today: Decimal | None) -> CostExplanation:
        return CostExplanation(source, detail, _rounded(today), logged)

    if not succeeded and logged is None:
        return said(PriceSource.NOT_BILLED, "A failed attempt returns no usage to bill.", None)
    if provider is None:
        return said(
            PriceSource.UNKNOWN, "The provider is no longer configured; its prices are gone.", None
        )
    if provider.self_hosted:
        return said(PriceSource.SELF_HOSTED, "A self-hosted provider costs nothing.", Decimal(0))
    if usage.image_count:
        return _explain_image(provider=provider, model=model, usage=usage, prices=prices,
                              logged=logged)  # fmt: skip
    override = _override(prices, provider.name, model)
    if override is not None and (override.input_per_million or override.output_per_million):
        rates = Rates(
            input=override.input_per_million or Decimal(0),
            output=override.output_per_million or Decimal(0),
            cache_read=override.cached_input_per_million,
            cache_write=override.cache_write_per_million,
        )
        return said(PriceSource.ADMIN, _token_sum(rates, usage), rates.cost(usage))
    flat = _linear_token_rates(provider.pricing_id, model) if provider.pricing_id else None
    if flat is not None:
        detail = f"{_token_sum(flat, usage)} (pricing id '{provider.pricing_id}')"
        return said(PriceSource.GENAI_PRICES, detail, flat.cost(usage))
    tiered = token_cost(pricing_id=provider.pricing_id, model=model, usage=usage)
    if tiered is not None:
        detail = f"A tiered price for '{model}' (pricing id '{provider.pricing_id}')."
        return said(PriceSource.GENAI_PRICES, detail, tiered)
    if usage.input_tokens is None or usage.output_tokens is None:
        return said(PriceSource.UNKNOWN, "The provider reported no token counts.", None)
    where = f"pricing id '{provider.pricing_id}'" if provider.pricing_id else "no pricing id"
    detail = f"No price for '{model}' in the admin's price table or in genai-prices ({where})."
    return said(PriceSource.UNKNOWN, detail, None)


def _explain_image(
    *, provider: ProviderInfo, model: str, usage: Usage, prices: PriceTable, logged: Decimal | None
) -> CostExplanation:
    count = usage.image_count

    def said(source: PriceSource, detail: str, today: Decimal | None) -> CostExplanation:
        return CostExplanation(source, detail, _rounded(today), logged)

    admin_rows = [
        (size, quality, row.per_image)
        for (name, priced_model, size, quality), row in prices.items()
        if name == provider.name and priced_model == model and row.per_image is not None
    ]
    for size, quality, unit in admin_rows:
        if logged is not None and _rounded(unit * count) == logged:
            what = ", ".join(filter(None, (size, quality))) or "any size"
            detail = f"{count} {TIMES} {_usd(unit)} per image ({what})"
            return said(PriceSource.ADMIN, detail, unit * count)
    by_tokens = token_cost(pricing_id=provider.pricing_id, model=model, usage=usage)
    if by_tokens is not None:
        counts = f"{usage.input_tokens or 0:,} in, {usage.output_tokens or 0:,} out"
        detail = f"Billed by tokens ({counts}, pricing id '{provider.pricing_id}')."
        return said(PriceSource.GENAI_PRICES, detail, by_tokens)
    for (priced_model, size, quality), unit in IMAGE_PRICES.items():
        if priced_model == model and logged is not None and _rounded(unit * count) == logged:
            what = ", ".join(filter(None, (size, quality))) or "any size"
            detail = f"{count} {TIMES} {_usd(unit)} per image ({what})"
            return said(PriceSource.IMAGE_TABLE, detail, unit * count)
    return said(
        PriceSource.UNKNOWN,
        f"No per-image price for '{model}' matches this attempt's size and quality.",
        None,
    )
