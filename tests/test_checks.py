"""`manage.py check` reports configuration problems with the task, the model and the fix."""

from __future__ import annotations

import pytest

from tests.conftest import Manage

KEYS = {
    "OPENAI_API_KEY": "sk-proj-test-checks-0001",
    "ANTHROPIC_API_KEY": "sk-ant-test-checks-0002",
}


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param(
            {"AI_IMAGE_PROVIDER": "anthropic"},
            [
                "aiconfig.E002",
                "Task 'image'",
                "Anthropic does not generate images",
                "openai/dall-e-3",
            ],
            id="anthropic-for-image",
        ),
        pytest.param(
            {"AI_TEXT_PROVIDER": "nosuch"},
            ["aiconfig.E001", "Task 'text'", "unknown provider 'nosuch'", "AI_TEXT_PROVIDER"],
            id="unknown-provider",
        ),
        pytest.param(
            {"AI_IMAGE_PROVIDER": "ollama", "AI_IMAGE_MODEL": "mistral"},
            ["aiconfig.E002", "Task 'image'", "'ollama/mistral' cannot generate images"],
            id="ollama-mistral-for-image",
        ),
        pytest.param(
            {"AI_TEXT_PROVIDER": "openai-compatible", "AI_TEXT_MODEL": "my-model"},
            ["aiconfig.E007", "'openai-compatible'", "OPENAI_COMPATIBLE_BASE_URL"],
            id="custom-provider-without-base-url",
        ),
        pytest.param(
            {"AI_TEXT_PROVIDER": "openai-compatible"},
            ["aiconfig.E003", "no model set", "AI_TEXT_MODEL"],
            id="no-model-and-no-default",
        ),
        pytest.param(
            {
                "AI_TEXT_FALLBACK_PROVIDER": "openai",
                "AI_TEXT_FALLBACK_MODEL": "gpt-4.1",
            },
            ["aiconfig.E004", "same as the primary"],
            id="fallback-identical-to-primary",
        ),
        pytest.param(
            {"OLLAMA_BASE_URL": "localhost:11434", "AI_TEXT_PROVIDER": "ollama"},
            ["aiconfig.E006", "not a valid http(s) URL"],
            id="malformed-base-url",
        ),
    ],
)
def test_check_fails_with_a_clear_message(
    manage: Manage, env: dict[str, str], expected: list[str]
) -> None:
    env = {**KEYS, **env}
    manage("migrate", "-v0", env=env)
    result = manage("check", env=env, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for text in expected:
        assert text in output


def test_missing_key_is_only_a_warning(manage: Manage) -> None:
    env = {"AI_TEXT_PROVIDER": "anthropic", "OPENAI_API_KEY": "sk-proj-test-checks-0003"}
    manage("migrate", "-v0", env=env)
    result = manage("check", env=env, check=False)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert "aiconfig.W101" in output
    assert "Provider not initialized" in output
    assert "ANTHROPIC_API_KEY" in output
    # The key that is set never appears, not even in part beyond its last 4 characters.
    assert "sk-proj-test-checks" not in output


def test_unknown_capabilities_are_a_warning(manage: Manage) -> None:
    env = {**KEYS, "AI_TEXT_MODEL": "gpt-5-preview"}
    manage("migrate", "-v0", env=env)
    result = manage("check", env=env, check=False)
    assert result.returncode == 0
    assert "aiconfig.W102" in result.stderr
    assert "'openai/gpt-5-preview' is not in the model list" in result.stderr


def test_a_clean_configuration_passes(manage: Manage) -> None:
    manage("migrate", "-v0", env=KEYS)
    result = manage("check", env=KEYS, check=False)
    assert result.returncode == 0
    assert "aiconfig" not in result.stdout + result.stderr


def test_runserver_style_checks_only_warn(manage: Manage) -> None:
    """Other commands see config errors as warnings: a bad assignment never blocks the app."""
    env = {"AI_IMAGE_PROVIDER": "anthropic"}
    manage("migrate", "-v0", env=env)
    # `showmigrations` runs the full system checks like runserver does.
    result = manage("showmigrations", "aiconfig", env=env, check=False)
    assert result.returncode == 0
    assert "aiconfig.W002" in result.stderr
