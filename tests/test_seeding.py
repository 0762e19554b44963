"""Seeding from the environment on `migrate`, read back through `ai_config --json`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Manage

OPTION_1 = {
    "AI_IMAGE_PROVIDER": "openai",
    "AI_IMAGE_MODEL": "dall-e-3",
    "AI_TEXT_PROVIDER": "openai",
    "AI_TEXT_MODEL": "gpt-4.1",
    "AI_AGENT_PROVIDER": "openai",
    "AI_AGENT_MODEL": "gpt-4.1",
}
OPTION_2 = {
    "AI_IMAGE_PROVIDER": "openai",
    "AI_IMAGE_MODEL": "dall-e-3",
    "AI_TEXT_PROVIDER": "anthropic",
    "AI_TEXT_MODEL": "claude-3-5-sonnet-20241022",
    "AI_AGENT_PROVIDER": "anthropic",
    "AI_AGENT_MODEL": "claude-3-5-sonnet-20241022",
    "ANTHROPIC_API_KEY": "sk-ant-test-option2-0000",
}
OPTION_3 = {
    "AI_IMAGE_PROVIDER": "gemini",
    "AI_IMAGE_MODEL": "gemini-2.0-flash",
    "AI_TEXT_PROVIDER": "anthropic",
    "AI_TEXT_MODEL": "claude-3-opus-20250219",
    "AI_AGENT_PROVIDER": "openai",
    "AI_AGENT_FALLBACK_PROVIDER": "anthropic",
    "GEMINI_API_KEY": "gm-test-option3-1111",
    "ANTHROPIC_API_KEY": "sk-ant-test-option3-2222",
    "OPENAI_API_KEY": "sk-proj-test-option3-3333",
}


def _chains(payload: dict[str, Any]) -> dict[str, list[str]]:
    """task -> ["provider/model", fallback..., ...] as `ai_config --json` reports it."""
    return {
        t["task"]: [f"{t['provider']}/{t['model']}"]
        + [f"{f['provider']}/{f['model']}" for f in t["fallbacks"]]
        for t in payload["tasks"]
    }


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {},
            {
                "image": ["openai/dall-e-3"],
                "text": ["openai/gpt-4.1"],
                "video-slides": ["openai/gpt-4.1"],
                "agent": ["openai/gpt-4.1"],
            },
            id="no-env",
        ),
        pytest.param(
            OPTION_1,
            {
                "image": ["openai/dall-e-3"],
                "text": ["openai/gpt-4.1"],
                "video-slides": ["openai/gpt-4.1"],
                "agent": ["openai/gpt-4.1"],
            },
            id="option-1-all-openai",
        ),
        pytest.param(
            OPTION_2,
            {
                "image": ["openai/dall-e-3"],
                "text": ["anthropic/claude-3-5-sonnet-20241022"],
                "video-slides": ["openai/gpt-4.1"],
                "agent": ["anthropic/claude-3-5-sonnet-20241022"],
            },
            id="option-2-openai-images-claude-text",
        ),
        pytest.param(
            OPTION_3,
            {
                "image": ["gemini/gemini-2.0-flash"],
                "text": ["anthropic/claude-3-opus-20250219"],
                "video-slides": ["openai/gpt-4.1"],
                "agent": ["openai/gpt-4.1", "anthropic/claude-3-5-sonnet-20241022"],
            },
            id="option-3-mix-everything",
        ),
    ],
)
def test_migrate_seeds_the_guides_options(
    manage: Manage, env: dict[str, str], expected: dict[str, list[str]]
) -> None:
    manage("migrate", "-v0", env=env)
    payload = manage.json("ai_config", "--json", env=env)
    assert _chains(payload) == expected


def test_sources_say_where_each_value_came_from(manage: Manage) -> None:
    manage("migrate", "-v0", env=OPTION_3)
    tasks = {t["task"]: t for t in manage.json("ai_config", "--json")["tasks"]}
    assert tasks["text"]["source"] == "env"
    assert tasks["video-slides"]["source"] == "default"
    # Option 3 names the agent's providers without models: both come from the defaults.
    assert tasks["agent"]["model_defaulted"] is True
    assert tasks["agent"]["fallbacks"][0]["model_defaulted"] is True
    assert tasks["text"]["model_defaulted"] is False


def test_full_example_with_fallbacks_and_video_slides(manage: Manage) -> None:
    env = {
        "AI_IMAGE_PROVIDER": "openai",
        "AI_IMAGE_MODEL": "dall-e-3",
        "AI_IMAGE_FALLBACK_PROVIDER": "openai",
        "AI_IMAGE_FALLBACK_MODEL": "dall-e-2",
        "AI_TEXT_PROVIDER": "anthropic",
        "AI_TEXT_MODEL": "claude-3-5-sonnet-20241022",
        "AI_TEXT_FALLBACK_PROVIDER": "openai",
        "AI_TEXT_FALLBACK_MODEL": "gpt-4o-mini",
        "AI_VIDEO_SLIDES_PROVIDER": "gemini",
        "AI_VIDEO_SLIDES_MODEL": "gemini-2.0-flash",
        "AI_VIDEO_SLIDES_FALLBACK_PROVIDER": "openai",
        "AI_VIDEO_SLIDES_FALLBACK_MODEL": "gpt-4.1",
        "AI_AGENT_PROVIDER": "anthropic",
        "AI_AGENT_MODEL": "claude-3-opus-20250219",
        "AI_AGENT_FALLBACK_PROVIDER": "openai",
        "AI_AGENT_FALLBACK_MODEL": "gpt-4.1",
    }
    manage("migrate", "-v0", env=env)
    assert _chains(manage.json("ai_config", "--json")) == {
        "image": ["openai/dall-e-3", "openai/dall-e-2"],
        "text": ["anthropic/claude-3-5-sonnet-20241022", "openai/gpt-4o-mini"],
        "video-slides": ["gemini/gemini-2.0-flash", "openai/gpt-4.1"],
        "agent": ["anthropic/claude-3-opus-20250219", "openai/gpt-4.1"],
    }


def test_custom_task_and_base_urls_from_env(manage: Manage) -> None:
    env = {
        "AI_SUMMARIES_PROVIDER": "ollama",
        "AI_SUMMARIES_FALLBACK_PROVIDER": "openai",
        "OLLAMA_BASE_URL": "http://ollama.internal:11434/v1",
        "GEMINI_BASE_URL": "https://gemini.example.test/openai/",
    }
    manage("migrate", "-v0", env=env)
    payload = manage.json("ai_config", "--json")
    assert _chains(payload)["summaries"] == ["ollama/mistral", "openai/gpt-4.1"]
    custom = next(t for t in payload["tasks"] if t["task"] == "summaries")
    assert custom["builtin"] is False
    assert custom["output_kind"] == "text"
    urls = {p["name"]: p["base_url"] for p in payload["providers"]}
    assert urls["ollama"] == "http://ollama.internal:11434/v1"
    assert urls["gemini"] == "https://gemini.example.test/openai/"
    assert urls["together"] == "https://api.together.xyz/v1"


def test_invalid_env_is_seeded_as_written_and_migrate_still_succeeds(manage: Manage) -> None:
    env = {"AI_TEXT_PROVIDER": "nosuch", "AI_IMAGE_PROVIDER": "anthropic"}
    manage("migrate", "-v0", env=env)
    payload = manage.json("ai_config", "--json")
    tasks = {t["task"]: t for t in payload["tasks"]}
    # Never silently replaced by OpenAI.
    assert tasks["text"]["provider"] == "nosuch"
    assert tasks["image"]["provider"] == "anthropic"
    assert any(p["code"] == "unknown_provider" for p in tasks["text"]["problems"])
    assert any(p["code"] == "capability" for p in tasks["image"]["problems"])


def test_over_long_env_values_are_ignored_with_a_warning_and_migrate_succeeds(
    manage: Manage,
) -> None:
    # PostgreSQL cannot store a value longer than its column: migrate must not crash on it.
    env = {
        "AI_TEXT_PROVIDER": "openai",
        "AI_TEXT_MODEL": "m" * 300,
        "OLLAMA_BASE_URL": "http://ollama.test/" + "v" * 600,
    }
    result = manage("migrate", "-v0", env=env)
    assert "AI_TEXT_MODEL is 300 characters long, more than the 200 allowed" in result.stderr
    assert "OLLAMA_BASE_URL is" in result.stderr
    payload = manage.json("ai_config", "--json", env=env)
    text = next(t for t in payload["tasks"] if t["task"] == "text")
    assert text["model"] == "gpt-4.1"
    assert text["model_defaulted"] is True
    urls = {p["name"]: p["base_url"] for p in payload["providers"]}
    assert "vvvv" not in urls["ollama"]


def test_second_migrate_never_overwrites_an_edit(manage: Manage) -> None:
    manage("migrate", "-v0", env=OPTION_1)
    manage("ai_config", "set", "text", "--provider", "openai", "--model", "gpt-4o-mini")
    # A later deploy with different env: the edit stands, and so does everything else.
    manage("migrate", "-v0", env=OPTION_2)
    chains = _chains(manage.json("ai_config", "--json", env=OPTION_2))
    assert chains["text"] == ["openai/gpt-4o-mini"]
    assert chains["agent"] == ["openai/gpt-4.1"]


def test_apply_env_dry_run_prints_the_difference_and_writes_nothing(manage: Manage) -> None:
    manage("migrate", "-v0", env=OPTION_1)
    manage("ai_config", "set", "text", "--provider", "openai", "--model", "gpt-4o-mini")

    dry = manage("ai_config", "apply-env", "--dry-run", env=OPTION_2)
    assert "text" in dry.stdout
    assert "openai/gpt-4o-mini → anthropic/claude-3-5-sonnet-20241022" in dry.stdout
    assert "agent" in dry.stdout
    assert "nothing was written" in dry.stdout
    assert _chains(manage.json("ai_config", "--json"))["text"] == ["openai/gpt-4o-mini"]

    manage("ai_config", "apply-env", env=OPTION_2)
    chains = _chains(manage.json("ai_config", "--json"))
    assert chains["text"] == ["anthropic/claude-3-5-sonnet-20241022"]
    assert chains["agent"] == ["anthropic/claude-3-5-sonnet-20241022"]
    # The environment does not mention video-slides: it keeps its assignment.
    assert chains["video-slides"] == ["openai/gpt-4.1"]


def test_apply_env_refuses_invalid_env_and_keeps_the_database(manage: Manage) -> None:
    manage("migrate", "-v0")
    result = manage("ai_config", "apply-env", env={"AI_IMAGE_PROVIDER": "anthropic"}, check=False)
    assert result.returncode != 0
    assert "Anthropic does not generate images" in result.stderr
    assert _chains(manage.json("ai_config", "--json"))["image"] == ["openai/dall-e-3"]


def test_ai_config_shows_when_env_differs_from_an_edit(manage: Manage) -> None:
    manage("migrate", "-v0", env=OPTION_1)
    manage("ai_config", "set", "text", "--model", "gpt-4o-mini")
    tasks = {t["task"]: t for t in manage.json("ai_config", "--json", env=OPTION_2)["tasks"]}
    assert tasks["text"]["env_differs"] == {
        "provider": "anthropic",
        "model": "claude-3-5-sonnet-20241022",
        "fallbacks": [],
    }
    assert tasks["video-slides"]["env_differs"] is None
    text = manage("ai_config", env=OPTION_2).stdout
    assert "env differs: primary openai/gpt-4o-mini → anthropic/claude-3-5-sonnet-20241022" in text
    assert "apply-env --task text" in text
