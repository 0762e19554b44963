"""A call's page says how each attempt's cost was computed: which price, from where."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from adapters import Usage
from aiconfig.enums import PriceSource
from aiconfig.models import CallLog
from aiconfig.price_sources import explain_cost
from aiconfig.pricing import call_cost
from aiconfig.services import calls
from aiconfig.snapshots import PriceOverride, ProviderInfo
from tests.fake_provider import FakeProvider

OPENAI = ProviderInfo.build(name="openai", fields={"pricing_id": "openai"})
ANTHROPIC = ProviderInfo.build(name="anthropic", fields={"pricing_id": "anthropic"})
OLLAMA = ProviderInfo.build(name="ollama", fields={"self_hosted": True})
LOCAL = ProviderInfo.build(name="local", fields={})
TEXT = Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=500)


def explained(provider: ProviderInfo | None, model: str, usage: Usage, prices: Any = None,
              *, ok: bool = True) -> Any:  # fmt: skip
    prices = prices or {}
    logged = call_cost(provider=provider, model=model, usage=usage, prices=prices) if (
        provider and ok) else None  # fmt: skip
    return explain_cost(
        provider=provider, model=model, usage=usage, prices=prices, logged=logged, succeeded=ok
    )


def test_admin_price_table_with_its_cache_rate() -> None:
    prices = {("openai", "gpt-4o", "", ""): PriceOverride(Decimal(2), Decimal(8), None,
                                                          Decimal(1))}  # fmt: skip
    cost = explained(OPENAI, "gpt-4o", TEXT, prices)
    assert cost.source == PriceSource.ADMIN
    assert cost.detail == (
        "500 input \u00d7 $2/1M + 500 cache reads \u00d7 $1/1M + 100 output \u00d7 $8/1M"
    )
    assert cost.today == Decimal("0.0023") == cost.logged
    assert not cost.changed


def test_genai_prices_flat_and_tiered() -> None:
    flat = explained(OPENAI, "gpt-4o", TEXT)
    assert flat.source == PriceSource.GENAI_PRICES
    assert "$2.5/1M" in flat.detail
    assert "$1.25/1M" in flat.detail
    assert "pricing id 'openai'" in flat.detail
    assert flat.today == flat.logged
    tiered = explained(
        ANTHROPIC,
        "claude-sonnet-4-5",
        Usage(input_tokens=1202, output_tokens=5, cache_read_tokens=1000, cache_write_tokens=200),
    )
    assert tiered.source == PriceSource.GENAI_PRICES
    assert tiered.today == Decimal("0.001131")


def test_images_from_the_admin_table_and_the_built_in_table() -> None:
    image = Usage(image_count=2)
    builtin = explain_cost(
        provider=OPENAI, model="dall-e-3", usage=image, prices={},
        logged=Decimal("0.24"), succeeded=True,
    )  # fmt: skip
    assert builtin.source == PriceSource.IMAGE_TABLE
    assert builtin.detail == "2 \u00d7 $0.12 per image (1024x1792, hd)"
    prices = {("openai", "dall-e-3", "1024x1024", ""): PriceOverride(None, None, Decimal("0.05"))}
    admin = explain_cost(
        provider=OPENAI, model="dall-e-3", usage=image, prices=prices,
        logged=Decimal("0.1"), succeeded=True,
    )  # fmt: skip
    assert admin.source == PriceSource.ADMIN
    assert admin.detail == "2 \u00d7 $0.05 per image (1024x1024)"


def test_self_hosted_unknown_not_billed_and_a_changed_price() -> None:
    assert explained(OLLAMA, "llama3", TEXT).source == PriceSource.SELF_HOSTED
    assert explained(OLLAMA, "llama3", TEXT).today == 0
    unknown = explained(LOCAL, "my-model", TEXT)
    assert unknown.source == PriceSource.UNKNOWN
    assert "no pricing id" in unknown.detail
    assert explained(None, "gone", TEXT).source == PriceSource.UNKNOWN
    failed = explained(OPENAI, "gpt-4o", Usage(), ok=False)
    assert failed.source == PriceSource.NOT_BILLED
    changed = explain_cost(
        provider=OPENAI, model="gpt-4o", usage=TEXT, prices={},
        logged=Decimal("0.001"), succeeded=True,
    )  # fmt: skip
    assert changed.changed
    assert changed.today == Decimal("0.002875")


@pytest.mark.django_db
def test_the_page_explains_a_self_hosted_and_an_admin_priced_call(
    wired: FakeProvider, viewer: Any, client: Client
) -> None:
    from aiconfig import services
    from tests.test_call_explorer import route

    services.save_model_price(
        provider="openai", model="gpt-4.1", input_per_million="1", output_per_million="4"
    )
    route("text", "openai", "gpt-4.1")
    calls.generate_text(prompt="hi there")
    route("text", "ollama", "llama3.2")
    calls.generate_text(prompt="hi there")
    client.force_login(viewer)
    pages = {
        row.provider: client.get(f"/calls/{row.request_id}/").content.decode()
        for row in CallLog.objects.all()
    }
    assert "The admin&#x27;s price table" in pages["openai"]
    assert "\u00d7 $1/1M" in pages["openai"]
    assert "Self-hosted ($0)" in pages["ollama"]
