"""Running tasks through the real SDKs against the fake provider: fallbacks, logs, costs."""

from __future__ import annotations

import logging
import time
from decimal import Decimal

import pytest
from django.db import DatabaseError
from django.test import override_settings
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price

from adapters import ToolSpec
from aiconfig import selectors, services
from aiconfig.models import CallLog, TaskAssignment, TaskFallback
from aiconfig.services import calls
from aiconfig.services.calls import TaskFailed
from tests.conftest import FAKE_KEYS
from tests.fake_provider import FakeProvider, closed_port_url

pytestmark = pytest.mark.django_db

ANTHROPIC_FALLBACK = ("anthropic", "claude-3-5-sonnet-20241022")


def force(task: str, provider: str, model: str, *fallbacks: tuple[str, str]) -> None:
    """Store an assignment as written, skipping validation (as seeding from env does)."""
    assignment = TaskAssignment.objects.get(task__name=task)
    TaskAssignment.objects.filter(pk=assignment.pk).update(provider=provider, model=model)
    assignment.fallbacks.all().delete()
    TaskFallback.objects.bulk_create(
        TaskFallback(assignment=assignment, position=i, provider=p, model=m)
        for i, (p, m) in enumerate(fallbacks)
    )
    selectors.clear_config_cache()


def rows() -> list[CallLog]:
    return list(CallLog.objects.order_by("id"))


def test_text_call_returns_text_usage_and_cost(wired: FakeProvider) -> None:
    run = calls.generate_text(prompt="Write a tagline for a bakery")
    assert run.text == "Hello from gpt-4.1: Write a tagline for a bakery"
    assert (run.provider, run.model, run.fallback_used) == ("openai", "gpt-4.1", False)
    assert run.input_tokens == 6
    assert run.output_tokens == 9
    expected = calc_price(
        PriceUsage(input_tokens=6, output_tokens=9), model_ref="gpt-4.1", provider_id="openai"
    ).total_price
    assert run.cost_usd == expected
    assert run.cost_usd > 0
    [row] = rows()
    assert (row.task, row.provider, row.model, row.outcome) == (
        "text",
        "openai",
        "gpt-4.1",
        "success",
    )
    assert row.request_id == run.request_id
    assert (row.input_tokens, row.output_tokens, row.cost_usd) == (6, 9, expected)
    assert row.latency_ms > 0
    assert row.prompt == ""  # prompts are not stored unless the setting says so
    assert wired.requests[-1].headers["authorization"] == f"Bearer {FAKE_KEYS['OPENAI_API_KEY']}"


@override_settings(AICONFIG_LOG_PROMPTS=True)
def test_prompts_are_stored_only_when_enabled(wired: FakeProvider) -> None:
    calls.generate_text(prompt="remember me")
    [row] = rows()
    assert row.prompt == "remember me"
    assert row.response.startswith("Hello from gpt-4.1")


@pytest.mark.parametrize(
    ("model", "kind"),
    [
        ("fail-500", "provider_error"),
        ("fail-503", "provider_error"),
        ("fail-429", "rate_limited"),
        ("fail-400", "invalid_request"),
        ("fail-401", "authentication_failed"),
        ("missing-model", "model_not_found"),
        ("garbage", "provider_error"),
    ],
)
def test_every_failure_falls_back(wired: FakeProvider, model: str, kind: str) -> None:
    force("text", "openai", model, ANTHROPIC_FALLBACK)
    run = calls.generate_text(prompt="hello there")
    assert run.provider == "anthropic"
    assert run.fallback_used is True
    assert run.text.startswith("Hello from claude-3-5-sonnet-20241022")
    first, second = rows()
    assert (first.outcome, first.error_kind, first.attempt, first.is_fallback) == (
        "error",
        kind,
        1,
        False,
    )
    assert (second.outcome, second.attempt, second.is_fallback) == ("success", 2, True)
    assert first.request_id == second.request_id == run.request_id
    assert first.cost_usd is None
    assert second.cost_usd is not None
    # One request per attempt: the SDKs' hidden retries are off.
    assert [r.path for r in wired.requests] == ["/v1/chat/completions", "/v1/messages"]


def test_bad_key_falls_back_and_never_leaks(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    bad = "sk-bad-LEAKCANARY-1234567890abcdef-ZZ99"
    monkeypatch.setenv("OPENAI_API_KEY", bad)
    force("text", "openai", "gpt-4.1", ANTHROPIC_FALLBACK)
    caplog.set_level(logging.DEBUG)
    run = calls.generate_text(prompt="hi")
    assert run.provider == "anthropic"
    error_row = rows()[0]
    assert error_row.error_kind == "authentication_failed"
    assert "LEAKCANARY" not in error_row.error_message
    assert "…ZZ99" in error_row.error_message  # at most the last 4 characters
    assert "LEAKCANARY" not in caplog.text
    assert "LEAKCANARY" not in repr(run)


def test_connection_refused_falls_back(wired: FakeProvider) -> None:
    services.update_provider(name="openai", base_url=closed_port_url() + "/v1")
    force("text", "openai", "gpt-4.1", ANTHROPIC_FALLBACK)
    run = calls.generate_text(prompt="hi")
    assert run.provider == "anthropic"
    assert rows()[0].error_kind == "provider_error"


def test_timeout_fails_over_within_the_timeout(wired: FakeProvider) -> None:
    force("text", "openai", "slow-3", ANTHROPIC_FALLBACK)
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=0.5)
    selectors.clear_config_cache()
    started = time.perf_counter()
    run = calls.generate_text(prompt="hi")
    elapsed = time.perf_counter() - started
    assert run.provider == "anthropic"
    assert rows()[0].error_kind == "timed_out"
    # The dead primary cost its timeout once: no hidden SDK retries multiplied it.
    assert elapsed < 1.5


def test_when_every_attempt_fails_the_error_lists_each(wired: FakeProvider) -> None:
    force("text", "openai", "fail-500", ("anthropic", "missing-claude"), ("gemini", "fail-401"))
    with pytest.raises(TaskFailed) as excinfo:
        calls.generate_text(prompt="hi")
    message = str(excinfo.value)
    assert message.startswith("Fallback provider failed: task 'text' — all 3 attempts failed")
    assert "openai/fail-500" in message
    assert "anthropic/missing-claude" in message
    assert "gemini/fail-401" in message
    assert [r.error_kind for r in rows()] == [
        "provider_error",
        "model_not_found",
        "authentication_failed",
    ]
    assert {r.request_id for r in rows()} == {excinfo.value.request_id}


def test_retries_stay_on_the_provider_when_the_task_allows(wired: FakeProvider) -> None:
    force("text", "openai", "flaky-1", ANTHROPIC_FALLBACK)
    TaskAssignment.objects.filter(task__name="text").update(max_retries=1)
    selectors.clear_config_cache()
    run = calls.generate_text(prompt="hi")
    assert (run.provider, run.model) == ("openai", "flaky-1")
    assert [(r.outcome, r.is_fallback) for r in rows()] == [("error", False), ("success", False)]


@override_settings(AICONFIG_RETRY_AFTER_CAP_SECONDS=0.2)
def test_retry_after_is_honoured_within_the_cap(wired: FakeProvider) -> None:
    force("text", "openai", "fail-429", ANTHROPIC_FALLBACK)
    TaskAssignment.objects.filter(task__name="text").update(max_retries=1)
    selectors.clear_config_cache()
    started = time.perf_counter()
    run = calls.generate_text(prompt="hi")
    elapsed = time.perf_counter() - started
    assert run.provider == "anthropic"
    assert [r.error_kind for r in rows()] == ["rate_limited", "rate_limited", ""]
    # The server asked for 1 s; the cap of 0.2 s wins.
    assert 0.2 <= elapsed < 0.9


def test_disabled_and_keyless_providers_are_skipped_without_a_request(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY")
    services.update_provider(name="together", enabled=False)
    force(
        "text",
        "gemini",
        "gemini-2.0-flash",
        ("together", "meta-llama/Llama-3-70b-chat-hf"),
        ANTHROPIC_FALLBACK,
    )
    run = calls.generate_text(prompt="hi")
    assert run.provider == "anthropic"
    first, second, _ = rows()
    assert first.error_kind == "provider_not_initialized"
    assert "GEMINI_API_KEY" in first.error_message
    assert second.error_kind == "config_error"
    assert "disabled" in second.error_message
    assert [r.path for r in wired.requests] == ["/v1/messages"]


def test_unknown_provider_is_a_clear_error_never_openai(wired: FakeProvider) -> None:
    force("text", "nosuch", "gpt-4.1")
    with pytest.raises(TaskFailed, match="unknown provider 'nosuch'"):
        calls.generate_text(prompt="hi")
    assert wired.requests == []


def test_anthropic_image_fails_before_any_request(wired: FakeProvider) -> None:
    force("image", "anthropic", "claude-3-5-sonnet-20241022")
    with pytest.raises(TaskFailed) as excinfo:
        calls.generate_image(prompt="a cat")
    message = str(excinfo.value)
    assert "Anthropic does not generate images" in message
    assert "openai/dall-e-3" in message  # what to assign instead
    assert wired.requests == []
    assert rows()[0].error_kind == "capability_not_supported"


def test_image_call_returns_png_bytes_and_priced(wired: FakeProvider) -> None:
    run = calls.generate_image(prompt="a lighthouse at dawn")
    assert len(run.images) == 1
    assert run.images[0].data.startswith(b"\x89PNG")
    assert run.cost_usd == Decimal("0.040")
    hd = calls.generate_image(prompt="again", size="1792x1024", quality="hd", n=2)
    assert len(hd.images) == 2
    assert hd.cost_usd == Decimal("0.240")
    assert [r.image_count for r in rows()] == [1, 2]


def test_image_falls_back_to_another_image_model(wired: FakeProvider) -> None:
    force("image", "openai", "fail-500", ("openai", "dall-e-2"))
    run = calls.generate_image(prompt="a lighthouse")
    assert (run.model, run.fallback_used, run.cost_usd) == ("dall-e-2", True, Decimal("0.020"))


def test_slides_are_validated(wired: FakeProvider) -> None:
    run = calls.generate_slides(prompt="Three facts about owls")
    assert len(run.slides) >= 1
    assert all(s.image_prompt and s.narration for s in run.slides)


@pytest.mark.parametrize(("model", "kind"), [("wrong-shape", "invalid_output"),
                                             ("not-json", "provider_error")])  # fmt: skip
def test_an_answer_that_fails_the_schema_falls_back(
    wired: FakeProvider, model: str, kind: str
) -> None:
    force("video-slides", "openai", model, ANTHROPIC_FALLBACK)
    run = calls.generate_slides(prompt="owls")
    assert run.provider == "anthropic"
    assert run.slides
    assert rows()[0].error_kind == kind


WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={"type": "object", "properties": {"city": {"type": "string"}},
                "required": ["city"]},
)  # fmt: skip


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_agent_tool_calls_are_normalised(wired: FakeProvider, provider: str) -> None:
    model = "gpt-4.1" if provider == "openai" else "claude-3-5-sonnet-20241022"
    services.update_task_config(task="agent", provider=provider, model=model)
    run = calls.chat(messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=[WEATHER])
    [call] = run.tool_calls
    assert call.name == "get_weather"
    assert isinstance(call.arguments, dict)
    assert "city" in call.arguments
    follow_up = calls.chat(
        messages=[
            {"role": "user", "content": "Weather in Oslo?"},
            run.message,
            {"role": "tool", "tool_call_id": call.id, "content": "4°C, light rain"},
        ],
        tools=[WEATHER],
    )
    assert follow_up.text == "Done: 4°C, light rain"
    assert follow_up.tool_calls == ()


def test_agent_fallback_fires_at_run_time(wired: FakeProvider) -> None:
    force("agent", "openai", "fail-503", ANTHROPIC_FALLBACK)
    run = calls.chat(messages=[{"role": "user", "content": "Weather?"}], tools=[WEATHER])
    assert run.provider == "anthropic"
    assert run.tool_calls[0].name == "get_weather"


def test_stream_yields_tokens_and_logs_usage(wired: FakeProvider) -> None:
    stream = calls.stream_text(prompt="Stream me a line")
    parts = list(stream)
    assert len(parts) > 1
    assert "".join(parts) == "Hello from gpt-4.1: Stream me a line"
    assert stream.run is not None
    assert stream.run.text == "".join(parts)
    assert stream.run.output_tokens == 7
    [row] = rows()
    assert (row.operation, row.outcome, row.output_tokens) == ("stream", "success", 7)
    assert row.cost_usd is not None


def test_stream_falls_back_before_the_first_token(wired: FakeProvider) -> None:
    force("text", "openai", "fail-500", ANTHROPIC_FALLBACK)
    stream = calls.stream_text(prompt="hi")
    text = "".join(stream)
    assert text.startswith("Hello from claude-3-5-sonnet-20241022")
    assert stream.run is not None
    assert stream.run.fallback_used is True


def test_stream_error_after_the_first_token_reaches_the_caller(wired: FakeProvider) -> None:
    force("text", "openai", "break-stream", ANTHROPIC_FALLBACK)
    stream = calls.stream_text(prompt="hello world again")
    first = next(stream)
    assert first  # the first token did arrive
    with pytest.raises(TaskFailed, match="failed after it had started"):
        list(stream)
    assert [r.outcome for r in rows()] == ["error"]
    assert not any(r.path == "/v1/messages" for r in wired.requests)


def test_stream_closed_early_is_logged_as_cancelled(wired: FakeProvider) -> None:
    stream = calls.stream_text(prompt="one two three four five")
    next(stream)
    stream.close()
    [row] = rows()
    assert row.error_kind == "cancelled"


def test_costs_unknown_zero_and_overridden(wired: FakeProvider) -> None:
    services.update_task_config(task="text", provider="openai", model="gpt-5-preview")
    assert calls.generate_text(prompt="hi").cost_usd is None  # not $0
    services.update_task_config(task="text", provider="ollama", model="mistral")
    assert calls.generate_text(prompt="hi").cost_usd == Decimal(0)
    services.update_task_config(task="text", provider="openai", model="gpt-4o-mini")
    services.save_model_price(
        provider="openai", model="gpt-4o-mini", input_per_million="1000", output_per_million="0"
    )
    run = calls.generate_text(prompt="one two three four")
    assert run.cost_usd == Decimal("0.004")  # 4 input tokens at $1000 per million
    assert [r.cost_usd for r in rows()] == [None, Decimal(0), Decimal("0.004")]


def test_changed_key_never_reuses_a_stale_client(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls.generate_text(prompt="one")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-ROTATED-000000000000000-RT77")
    calls.generate_text(prompt="two")
    auth = [r.headers["authorization"] for r in wired.requests]
    assert auth == [
        f"Bearer {FAKE_KEYS['OPENAI_API_KEY']}",
        "Bearer sk-proj-ROTATED-000000000000000-RT77",
    ]


def test_edit_takes_effect_on_the_next_call(wired: FakeProvider) -> None:
    calls.generate_text(prompt="one")
    services.update_task_config(task="text", provider="gemini", model="gemini-1.5-pro")
    run = calls.generate_text(prompt="two")
    assert (run.provider, run.model) == ("gemini", "gemini-1.5-pro")
    assert wired.requests[-1].body["model"] == "gemini-1.5-pro"


def test_a_failed_log_write_is_reported_not_swallowed(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(calls.log, "insert_call_log", broken)
    run = calls.generate_text(prompt="still works")
    assert run.text.startswith("Hello from gpt-4.1")
    assert run.log_error == "call log not written: disk full"
    assert "Could not write 1 call-log row(s) for task 'text'" in caplog.text


def test_unknown_task_names_the_known_ones(wired: FakeProvider) -> None:
    with pytest.raises(Exception, match="Unknown task 'nope'"):
        calls.run_task(task="nope", prompt="hi")


def test_test_connection_reports_success_and_failure(
    wired: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok = calls.test_provider_connection(provider="openai")
    assert ok.ok
    assert "models available" in ok.message
    assert ok.models
    assert calls.test_provider_connection(provider="anthropic").ok

    monkeypatch.setenv("OPENAI_API_KEY", "sk-bad-CANARY-0000000000000-XX00")
    bad = calls.test_provider_connection(provider="openai")
    assert not bad.ok
    assert "CANARY" not in bad.message
    monkeypatch.delenv("TOGETHER_API_KEY")
    missing = calls.test_provider_connection(provider="together")
    assert not missing.ok
    assert "TOGETHER_API_KEY" in missing.message
    services.update_provider(name="ollama", base_url=closed_port_url() + "/v1")
    refused = calls.test_provider_connection(provider="ollama")
    assert not refused.ok
