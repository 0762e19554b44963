"""Prompt-cache tokens priced as billed: cache reads, cache writes and cached input.

The fake provider reports cache usage for model names with `cached-<n>` in each API's
own convention (Anthropic: on top of input_tokens; OpenAI: inside prompt_tokens). The
expected costs are computed by hand from published per-million rates.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from adapters import Usage
from aiconfig import selectors, services
from aiconfig.models import CallLog, TaskAssignment, TaskFallback
from aiconfig.pricing import token_cost
from aiconfig.services import calls
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

M = Decimal(1_000_000)
# claude-sonnet-4-0 in genai-prices: $3 input, $15 output, $0.30 cache read, $3.75 cache write.
SONNET = "claude-sonnet-4-0-cached-1000-write-200"
# An OpenAI model priced in the admin's table: $2.50 input, $1.25 cached input, $10 output.
OPENAI_CACHED = "gpt-4o-cached-6"


def route(provider: str, model: str) -> None:
    assignment = TaskAssignment.objects.get(task__name="text")
    TaskAssignment.objects.filter(pk=assignment.pk).update(provider=provider, model=model)
    TaskFallback.objects.filter(assignment=assignment).delete()
    selectors.clear_config_cache()


def only_row() -> CallLog:
    [row] = CallLog.objects.all()
    return row


def call(stream: bool) -> tuple[Decimal | None, CallLog]:
    # "Hi there": two words, so two uncached prompt tokens on either wire format.
    if stream:
        handle = calls.stream_text(prompt="Hi there")
        "".join(handle)
        assert handle.run is not None
        cost = handle.run.cost_usd
    else:
        cost = calls.generate_text(prompt="Hi there").cost_usd
    return cost, only_row()


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_anthropic_cache_reads_and_writes_are_billed_at_their_rates(
    wired: FakeProvider, stream: bool
) -> None:
    route("anthropic", SONNET)
    cost, row = call(stream)
    # Anthropic reported input_tokens 2 plus 1000 read and 200 written on top.
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens) == (1202, 1000, 200)
    out = row.output_tokens
    expected = (2 * Decimal("3") + 1000 * Decimal("0.30") + 200 * Decimal("3.75")) / M + (
        out * Decimal(15) / M
    )
    assert cost == expected
    assert row.cost_usd == expected
    # The figure: the old pricing of input 2 only was 14x too low.
    assert cost > 10 * (2 * Decimal(3) + out * Decimal(15)) / M


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streamed"])
def test_openai_cached_half_of_the_prompt_is_billed_at_the_cached_rate(
    wired: FakeProvider, stream: bool
) -> None:
    services.save_model_price(
        provider="openai",
        model=OPENAI_CACHED,
        input_per_million="2.5",
        output_per_million="10",
        cached_input_per_million="1.25",
    )
    route("openai", OPENAI_CACHED)
    cost, row = call(stream)
    # prompt_tokens 8 of which 6 cached (OpenAI counts cached tokens inside the prompt).
    assert (row.input_tokens, row.cache_read_tokens, row.cache_write_tokens) == (8, 6, None)
    out = row.output_tokens
    expected = (2 * Decimal("2.5") + 6 * Decimal("1.25") + out * Decimal(10)) / M
    assert cost == expected
    assert row.cost_usd == expected
    assert cost < (8 * Decimal("2.5") + out * Decimal(10)) / M  # not billed as all fresh


def test_a_cache_rate_left_blank_bills_cached_tokens_at_the_input_rate(
    wired: FakeProvider,
) -> None:
    services.save_model_price(
        provider="openai", model=OPENAI_CACHED, input_per_million="2", output_per_million="4"
    )
    route("openai", OPENAI_CACHED)
    cost, row = call(stream=False)
    assert cost == (8 * Decimal(2) + row.output_tokens * Decimal(4)) / M


def test_reasoning_tokens_are_logged_and_billed_as_output(wired: FakeProvider) -> None:
    model = "gpt-4o-reasoning-40"
    services.save_model_price(
        provider="openai", model=model, input_per_million="1", output_per_million="8"
    )
    route("openai", model)
    run = calls.generate_text(prompt="Hi there")
    row = only_row()
    assert row.reasoning_tokens == 40
    assert row.output_tokens >= 40  # part of the output, as OpenAI counts it
    assert run.cost_usd == (2 * Decimal(1) + row.output_tokens * Decimal(8)) / M


@pytest.mark.parametrize(
    ("provider", "model", "usage", "expected"),
    [
        # gpt-4o: $2.50 in, $1.25 cached, $10 out; 1000-token prompt, half cached, 100 out.
        (
            "openai",
            "gpt-4o",
            Usage(input_tokens=1000, output_tokens=100, cache_read_tokens=500),
            (500 * Decimal("2.5") + 500 * Decimal("1.25") + 100 * Decimal(10)) / M,
        ),
        # claude-sonnet-4-5 has tiered prices (the full genai-prices calculation).
        (
            "anthropic",
            "claude-sonnet-4-5",
            Usage(
                input_tokens=1202, output_tokens=5, cache_read_tokens=1000, cache_write_tokens=200
            ),
            Decimal("0.001131"),
        ),
        (
            "anthropic",
            "claude-3-5-haiku-latest",
            Usage(
                input_tokens=1202, output_tokens=5, cache_read_tokens=1000, cache_write_tokens=200
            ),
            (2 * Decimal("0.8") + 1000 * Decimal("0.08") + 200 * Decimal(1) + 5 * Decimal(4)) / M,
        ),
    ],
)
def test_bundled_prices_bill_cache_tokens(
    provider: str, model: str, usage: Usage, expected: Decimal
) -> None:
    assert token_cost(pricing_id=provider, model=model, usage=usage) == expected
