"""What the bundled genai-prices data knows of a provider's models: prices, guessed abilities.

Used where people pick or add models: the model pickers list a provider's known
models (with their price per million tokens) after its listed ones, and "Refresh
models" guesses the capabilities of models a provider offers that we do not list.
The data has prices, not capabilities, so these are guesses from the prices and the
names, always shown as such and editable before anything is saved. Only the bundled
snapshot is read (never fetched), like `pricing`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from genai_prices import data_snapshot as price_data
from genai_prices import types as price_types

from aiconfig.catalog import CAPABILITY_FOR_KIND
from aiconfig.snapshots import ModelInfo, ProviderInfo

# Models no task here can use (speech, transcription, embeddings, moderation, realtime).
_NOT_GENERATIVE = re.compile(
    r"embed|tts|whisper|transcri|moderation|realtime|live|audio|search|computer-use|"
    r"deep-research|^(ada|babbage|curie|davinci)"
)
# Image generators: no chat, no structured output, no tools.
_IMAGE_ONLY = re.compile(r"^(dall-e|imagen|gpt-image|chatgpt-image)")
# Chat models that also generate images.
_ALSO_IMAGE = re.compile(r"-image\b")
# Text models too old for JSON-schema answers and tool calls.
_LEGACY = re.compile(
    r"instruct|gpt-3\.5|text-davinci|^gpt-4-32k|^claude-(2|instant|v1)|^o1-(mini|preview)"
)
# Ids in the data that are patterns, not callable names ("ft:gpt-4o", "gpt-3.5-turbo-").
_NOT_A_NAME = re.compile(r"[:*]|[-.]$")
# Models a pricing provider lists but serves only on another API of its own (Google
# prices the Claude models of Vertex AI; the Gemini API does not serve them).
_SERVED_ELSEWHERE = {"google": re.compile(r"^claude")}


@dataclass(frozen=True, slots=True)
class Guess:
    """A model's capabilities as guessed, with its price and what the guess rests on."""

    name: str
    text: bool
    image: bool
    structured: bool
    tools: bool
    price: str  # "$2.5 in / $10 out per 1M tokens", or "" when the data has none
    known: bool  # True: the price data lists the model; False: the name alone

    @property
    def capabilities(self) -> tuple[str, ...]:
        """The capability names guessed, in the order the catalog shows them."""
        return tuple(c for c in ("text", "image", "structured", "tools") if getattr(self, c))

    @property
    def basis(self) -> str:
        """What the guess rests on, in words."""
        return "guessed from the price data" if self.known else "guessed from the name"

    def supports(self, capability: str) -> bool:
        """Whether the guess includes `capability` ("text", "image", ...)."""
        return bool(getattr(self, capability))


def _rate(value: object) -> Decimal | None:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, price_types.TieredPrices):
        return value.base  # the price below the first tier
    return None


def _price(info: price_types.ModelInfo) -> str:
    prices = info.get_prices(datetime.now(UTC))
    rates = _rate(getattr(prices, "input_mtok", None)), _rate(getattr(prices, "output_mtok", None))
    if rates[0] is None or rates[1] is None:
        return ""
    return f"${rates[0].normalize():f} in / ${rates[1].normalize():f} out per 1M tokens"


def _from_name(name: str, *, known: bool, price: str) -> Guess:
    lowered = name.lower()
    if _NOT_GENERATIVE.search(lowered):
        return Guess(name, False, False, False, False, price, known)
    if _IMAGE_ONLY.search(lowered):
        return Guess(name, False, True, False, False, price, known)
    # Unknown to the data, a model is taken for a chat model; its output price says
    # so when the data knows it.
    modern = not _LEGACY.search(lowered)
    image = bool(_ALSO_IMAGE.search(lowered))
    return Guess(name, True, image, modern, modern, price, known)


def _lookup(pricing_id: str, name: str) -> price_types.ModelInfo | None:
    if not pricing_id:
        return None
    try:
        _, info = price_data.get_snapshot().find_provider_model(name, None, pricing_id, None)
    except LookupError:
        return None
    return info


@lru_cache(maxsize=4096)
def guess(pricing_id: str, name: str) -> Guess:
    """What model `name` of the provider priced as `pricing_id` can probably do."""
    info = _lookup(pricing_id, name)
    if info is None:
        return _from_name(name, known=False, price="")
    result = _from_name(name, known=True, price=_price(info))
    if result.text and not result.price:
        # Known but without token prices (priced per request, per image...): no chat.
        return Guess(name, False, result.image, False, False, "", True)
    return result


@lru_cache(maxsize=64)
def known_models(pricing_id: str) -> tuple[Guess, ...]:
    """The callable models the price data lists for a provider, in name order."""
    if not pricing_id:
        return ()
    try:
        provider = price_data.get_snapshot().find_provider(None, pricing_id, None)
    except LookupError:
        return ()
    elsewhere = _SERVED_ELSEWHERE.get(pricing_id)
    names = sorted(
        {
            m.id
            for m in provider.models
            if not _NOT_A_NAME.search(m.id) and not (elsewhere and elsewhere.search(m.id))
        }
    )
    return tuple(guess(pricing_id, name) for name in names)


def known_models_for(pricing_id: str, output_kind: str, *, besides: set[str]) -> list[Guess]:
    """Known models (with a price) that can probably serve `output_kind`, minus `besides`."""
    capability = CAPABILITY_FOR_KIND.get(output_kind, "text")
    return [
        g
        for g in known_models(pricing_id)
        if g.name not in besides and g.price and g.supports(capability)
    ]


def picker_models(info: ProviderInfo, output_kind: str) -> tuple[ModelInfo, ...]:
    """A model picker's options: the provider's listed models, then the known ones.

    The known ones (from the price data, not listed here) carry their price per
    million tokens as their note; a picked one is checked like any typed name.
    """
    listed = info.models_for(output_kind)
    known = known_models_for(info.pricing_id, output_kind, besides=set(info.models))
    return (
        *listed,
        *(
            ModelInfo(
                g.name, g.text, g.image, g.structured, g.tools, notes=f"{g.price} · genai-prices"
            )
            for g in known
        ),
    )
