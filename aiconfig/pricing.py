"""What a call cost, in USD.

Order of precedence: the admin's price table (`ModelPrice`), then the bundled
prices — genai-prices for tokens (its bundled snapshot only; it is never told to
auto-update) and the image table below. Self-hosted providers cost $0. Anything
else is unknown and stays None: an unknown price is never reported as $0.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from genai_prices import Usage as PriceUsage
from genai_prices import calc_price
from genai_prices import data_snapshot as price_data
from genai_prices import types as price_types

from adapters import Usage
from aiconfig.snapshots import PriceOverride, ProviderInfo

MILLION = Decimal(1_000_000)
# The call log stores costs with 8 decimal places; round once, here, so every
# report and return value agrees with what is stored.
PRECISION = Decimal("0.00000001")

# USD per image by (model, size, quality). Published list prices.
IMAGE_PRICES: dict[tuple[str, str, str], Decimal] = {
    ("dall-e-3", "1024x1024", "standard"): Decimal("0.040"),
    ("dall-e-3", "1024x1792", "standard"): Decimal("0.080"),
    ("dall-e-3", "1792x1024", "standard"): Decimal("0.080"),
    ("dall-e-3", "1024x1024", "hd"): Decimal("0.080"),
    ("dall-e-3", "1024x1792", "hd"): Decimal("0.120"),
    ("dall-e-3", "1792x1024", "hd"): Decimal("0.120"),
    ("dall-e-2", "1024x1024", "standard"): Decimal("0.020"),
    ("dall-e-2", "512x512", "standard"): Decimal("0.018"),
    ("dall-e-2", "256x256", "standard"): Decimal("0.016"),
    ("gpt-image-1", "1024x1024", "low"): Decimal("0.011"),
    ("gpt-image-1", "1024x1536", "low"): Decimal("0.016"),
    ("gpt-image-1", "1536x1024", "low"): Decimal("0.016"),
    ("gpt-image-1", "1024x1024", "medium"): Decimal("0.042"),
    ("gpt-image-1", "1024x1536", "medium"): Decimal("0.063"),
    ("gpt-image-1", "1536x1024", "medium"): Decimal("0.063"),
    ("gpt-image-1", "1024x1024", "high"): Decimal("0.167"),
    ("gpt-image-1", "1024x1536", "high"): Decimal("0.250"),
    ("gpt-image-1", "1536x1024", "high"): Decimal("0.250"),
    ("imagen-3.0-generate-002", "", ""): Decimal("0.030"),
}

# The quality a model uses when the request names none.
DEFAULT_IMAGE_QUALITY: dict[str, str] = {"dall-e-3": "standard", "dall-e-2": "standard"}


# (provider, model, image_size, image_quality) -> override; "" means "any".
PriceTable = Mapping[tuple[str, str, str, str], PriceOverride]


@dataclass(frozen=True, slots=True)
class Rates:
    """USD per million tokens: input, output, and cache reads/writes (None: input's rate)."""

    input: Decimal
    output: Decimal
    cache_read: Decimal | None = None
    cache_write: Decimal | None = None

    def cost(self, usage: Usage) -> Decimal | None:
        """The cost of `usage` (None without input and output counts).

        `usage.input_tokens` includes the cached tokens (see `adapters.Usage`): only
        the rest is billed at the input rate.
        """
        if usage.input_tokens is None or usage.output_tokens is None:
            return None
        read = usage.cache_read_tokens or 0
        write = usage.cache_write_tokens or 0
        uncached = max(0, usage.input_tokens - read - write)
        total = (
            uncached * self.input
            + read * (self.input if self.cache_read is None else self.cache_read)
            + write * (self.input if self.cache_write is None else self.cache_write)
            + usage.output_tokens * self.output
        )
        return total / MILLION


@lru_cache(maxsize=1024)
def _linear_token_rates(pricing_id: str, model: str) -> Rates | None:
    """Per-million rates when the model's price is flat (no tiers, no time of day).

    genai-prices takes ~0.1 ms per calculation; for the common flat-priced model the
    rates are looked up once per process. Tiered or time-dependent prices return
    None and go through the full calculation every time.
    """
    try:
        _, info = price_data.get_snapshot().find_provider_model(model, None, pricing_id, None)
    except LookupError:
        return None
    prices = info.prices
    if not isinstance(prices, price_types.ModelPrice):
        return None
    rates = [getattr(prices, name, None) for name in _RATE_NAMES]
    if not all(isinstance(rate, Decimal) for rate in rates[:2]):
        return None
    if not all(rate is None or isinstance(rate, Decimal) for rate in rates[2:]):
        return None  # tiered cache prices: the full calculation
    return Rates(*rates)


_RATE_NAMES = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")


def token_cost(*, pricing_id: str, model: str, usage: Usage) -> Decimal | None:
    """Cost of a token-billed call from the bundled price data, or None if unknown.

    Cache reads and writes are priced at the model's cache rates (the input rate
    where it has none), as genai-prices does: its `input_tokens` is the whole
    prompt, cached tokens included, which is `adapters.Usage`'s convention too.
    """
    if not pricing_id or usage.input_tokens is None or usage.output_tokens is None:
        return None
    rates = _linear_token_rates(pricing_id, model)
    if rates is not None:
        return rates.cost(usage)
    counts = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cache_read_tokens": usage.cache_read_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
    }
    try:
        result = calc_price(
            PriceUsage(**{name: n for name, n in counts.items() if n}),
            model_ref=model,
            provider_id=pricing_id,
        )
    except LookupError:
        return None
    return Decimal(result.total_price)


def _override(
    prices: PriceTable, provider: str, model: str, size: str = "", quality: str = ""
) -> PriceOverride | None:
    for key in ((provider, model, size, quality), (provider, model, size, ""),
                (provider, model, "", quality), (provider, model, "", "")):  # fmt: skip
        if key in prices:
            return prices[key]
    return None


def format_usd(value: Decimal | None) -> str | None:
    """A cost as a plain decimal string without trailing zeros ("0.04"), or None."""
    if value is None:
        return None
    text = f"{value.quantize(PRECISION).normalize():f}"
    return text


def call_cost(
    *,
    provider: ProviderInfo,
    model: str,
    usage: Usage,
    prices: PriceTable,
    image_size: str | None = None,
    image_quality: str | None = None,
) -> Decimal | None:
    """The USD cost of one successful call (8 decimal places), or None when no price is known."""
    cost = _raw_cost(
        provider=provider,
        model=model,
        usage=usage,
        prices=prices,
        image_size=image_size,
        image_quality=image_quality,
    )
    return None if cost is None else cost.quantize(PRECISION)


def _raw_cost(
    *,
    provider: ProviderInfo,
    model: str,
    usage: Usage,
    prices: PriceTable,
    image_size: str | None = None,
    image_quality: str | None = None,
) -> Decimal | None:
    if provider.self_hosted:
        return Decimal(0)
    if usage.image_count:
        quality = image_quality or DEFAULT_IMAGE_QUALITY.get(model, "")
        size = image_size or ""
        override = _override(prices, provider.name, model, size, quality)
        if override is not None and override.per_image is not None:
            return override.per_image * usage.image_count
        # Token-billed image models (gpt-image-*) report tokens: price those exactly.
        by_tokens = token_cost(pricing_id=provider.pricing_id, model=model, usage=usage)
        if by_tokens is not None:
            return by_tokens
        unit = IMAGE_PRICES.get((model, size, quality)) or IMAGE_PRICES.get((model, "", ""))
        return unit * usage.image_count if unit is not None else None
    override = _override(prices, provider.name, model)
    if override is not None and (override.input_per_million or override.output_per_million):
        return Rates(
            input=override.input_per_million or Decimal(0),
            output=override.output_per_million or Decimal(0),
            cache_read=override.cached_input_per_million,
            cache_write=override.cache_write_per_million,
        ).cost(usage)
    return token_cost(pricing_id=provider.pricing_id, model=model, usage=usage)
