"""`ai_run` and `ai_usage`, end to end: a fresh database, env pointing at the fake provider."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import FAKE_KEYS, Manage, provider_env
from tests.fake_provider import FakeProvider


@pytest.fixture
def env(fake_provider: FakeProvider) -> dict[str, str]:
    return provider_env(fake_provider)


def test_ai_run_runs_every_seeded_task(
    manage: Manage, env: dict[str, str], fake_provider: FakeProvider, tmp_path: Path
) -> None:
    manage.env = env
    manage("migrate", "-v0")

    text = manage.json("ai_run", "text", "Write a haiku about tea", "--json")
    assert (text["task"], text["provider"], text["model"]) == ("text", "openai", "gpt-4.1")
    assert text["text"] == "Hello from gpt-4.1: Write a haiku about tea"
    assert (text["input_tokens"], text["output_tokens"]) == (5, 8)
    assert text["fallback_used"] is False
    assert float(text["cost_usd"]) > 0
    assert len(text["attempts"]) == 1

    image = manage.json("ai_run", "image", "a red kite", "--json", "--out-dir", str(tmp_path))
    assert (image["provider"], image["model"], image["cost_usd"]) == ("openai", "dall-e-3", "0.04")
    [path] = image["images"]
    assert Path(path).read_bytes().startswith(b"\x89PNG")

    slides = manage.json("ai_run", "video-slides", "Three facts about bees", "--json")
    assert slides["slides"]
    assert all(s["image_prompt"] and s["narration"] for s in slides["slides"])

    agent = manage.json("ai_run", "agent", "Plan my day", "--json")
    assert agent["text"].startswith("Hello from gpt-4.1")

    plain = manage("ai_run", "video-slides", "Bees")
    assert "Slide 1" in plain.stdout
    assert "narration:" in plain.stdout


def test_ai_run_falls_back_and_ai_usage_shows_both_attempts(
    manage: Manage, env: dict[str, str]
) -> None:
    manage.env = {
        **env,
        "AI_TEXT_PROVIDER": "openai",
        "AI_TEXT_MODEL": "fail-500",
        "AI_TEXT_FALLBACK_PROVIDER": "anthropic",
        "AI_TEXT_FALLBACK_MODEL": "claude-3-haiku-20240307",
    }
    manage("migrate", "-v0")
    run = manage.json("ai_run", "text", "hello", "--json")
    assert (run["provider"], run["model"], run["fallback_used"]) == (
        "anthropic",
        "claude-3-haiku-20240307",
        True,
    )
    assert [a["outcome"] for a in run["attempts"]] == ["error", "success"]
    assert run["attempts"][0]["error_kind"] == "provider_error"

    rows = {(r["provider"], r["model"]): r for r in manage.json("ai_usage", "--json")["rows"]}
    failed = rows[("openai", "fail-500")]
    served = rows[("anthropic", "claude-3-haiku-20240307")]
    assert (failed["calls"], failed["errors"], failed["fallbacks"]) == (1, 1, 0)
    assert (served["calls"], served["errors"], served["fallbacks"]) == (1, 0, 1)
    assert served["cost_usd"] == run["cost_usd"]
    assert failed["cost_usd"] is None
    assert served["p50_latency_ms"] > 0

    table = manage("ai_usage").stdout
    assert "anthropic/claude-3-haiku-20240307" in table
    assert "openai/fail-500" in table


def test_ai_run_image_on_anthropic_fails_before_any_request(
    manage: Manage, env: dict[str, str], fake_provider: FakeProvider
) -> None:
    manage.env = {**env, "AI_IMAGE_PROVIDER": "anthropic"}
    manage("migrate", "-v0")
    result = manage("ai_run", "image", "a cat", check=False)
    assert result.returncode != 0
    assert "Anthropic does not generate images" in result.stderr
    assert "openai/dall-e-3" in result.stderr  # what to assign instead
    assert fake_provider.requests == []
    usage = manage.json("ai_usage", "--json")["rows"]
    assert [(r["provider"], r["errors"]) for r in usage] == [("anthropic", 1)]


def test_ai_run_failure_exits_non_zero_and_logs_attempts(
    manage: Manage, env: dict[str, str]
) -> None:
    manage.env = {**env, "AI_TEXT_MODEL": "fail-503"}
    manage("migrate", "-v0")
    result = manage("ai_run", "text", "hi", "--json", check=False)
    assert result.returncode != 0
    assert "fail-503" in result.stderr
    payload = json.loads(result.stdout)
    assert payload["attempts"][0]["error_kind"] == "provider_error"
    assert manage.json("ai_usage", "--json")["rows"][0]["errors"] == 1


def test_no_key_appears_in_cli_output_or_logs(manage: Manage, env: dict[str, str]) -> None:
    manage.env = {
        **env,
        "OPENAI_API_KEY": "sk-bad-CLICANARY-00000000000000-QQ11",
        "AI_TEXT_FALLBACK_PROVIDER": "anthropic",
    }
    manage("migrate", "-v0")
    run = manage("ai_run", "text", "hi", "--json")
    usage = manage("ai_usage", "--csv")
    config = manage("ai_config", "--json")
    for output in (run.stdout, run.stderr, usage.stdout, config.stdout, config.stderr):
        assert "CLICANARY" not in output
        for key in FAKE_KEYS.values():
            assert key not in output
    assert "…QQ11" in run.stdout


@pytest.mark.django_db
def test_ai_usage_filters_and_formats(wired: FakeProvider) -> None:
    call_command("ai_run", "text", "one", stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("ai_usage", "--csv", "--since", "1h", stdout=out)
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert (row["task"], row["calls"], row["errors"]) == ("text", "1", "0")
    out = io.StringIO()
    call_command("ai_usage", "--json", "--since", "2999-01-01", stdout=out)
    assert json.loads(out.getvalue()) == {"rows": []}
    with pytest.raises(CommandError, match="Cannot read 'yesterday-ish'"):
        call_command("ai_usage", "--since", "yesterday-ish")


@pytest.mark.django_db
def test_ai_run_streams_text(wired: FakeProvider) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("ai_run", "text", "stream this please", "--stream", stdout=out, stderr=err)
    assert out.getvalue().strip() == "Hello from gpt-4.1: stream this please"
    assert "openai/gpt-4.1" in err.getvalue()
