"""Length, character and range limits hold at every entry point: services, dashboard, admin, CLI.

A 300-character model name used to crash `ai_config set` with a DataError on
PostgreSQL (and be stored on SQLite); a 0.001 s timeout was accepted and shown as
"0.0 s". Refusals are logged as one line, not as a traceback.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from aiconfig import selectors, services
from aiconfig.models import ConfigChange, Provider, ProviderModel, TaskAssignment
from aiconfig.services import ConfigValidationError
from aiconfig.validation import MAX_MODEL_NAME
from tests.conftest import Manage

pytestmark = pytest.mark.django_db

LONG_MODEL = "m" * 300


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _errors_for(html: str, field_id: str) -> str:
    match = re.search(rf'<ul class="errorlist" id="{field_id}_error">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


# --- services (and so code, CLI, dashboard) ---------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "field", "text"),
    [
        ({"model": LONG_MODEL}, "model", f"at most {MAX_MODEL_NAME} characters"),
        ({"model": "gpt-4.1\nmalicious"}, "model", "spaces or control characters"),
        ({"model": "gpt 4"}, "model", "spaces or control characters"),
        ({"fallbacks": [("openai", "gpt\t4o")]}, "fallbacks.0.model", "control characters"),
        ({"timeout_seconds": 0.001}, "timeout_seconds", "Use 1 to 600 seconds"),
        ({"timeout_seconds": 601}, "timeout_seconds", "Use 1 to 600 seconds"),
        ({"timeout_seconds": float("nan")}, "timeout_seconds", "Use 1 to 600 seconds"),
    ],
)
def test_services_refuse_out_of_limit_values_and_save_nothing(
    kwargs: dict[str, Any], field: str, text: str
) -> None:
    before = selectors.load_snapshot()
    with pytest.raises(ConfigValidationError) as excinfo:
        services.update_task_config(task="text", provider="openai", **kwargs)
    assert text in " ".join(excinfo.value.message_dict[field])
    assert selectors.load_snapshot().version == before.version


def test_limits_are_inclusive() -> None:
    config = services.update_task_config(
        task="text", provider="openai", model="m" * MAX_MODEL_NAME, timeout_seconds=1
    )
    assert (len(config.model), config.timeout_seconds) == (MAX_MODEL_NAME, 1.0)
    assert services.update_task_config(task="text", timeout_seconds=600).timeout_seconds == 600


def test_provider_model_and_price_names_are_limited_too() -> None:
    changes = ConfigChange.objects.count()
    with pytest.raises(ValidationError, match="at most 200 characters"):
        services.update_provider(name="openai", default_text_model=LONG_MODEL)
    with pytest.raises(ValidationError, match="at most 500 characters"):
        services.update_provider(name="openai", base_url="https://x.test/" + "a" * 500)
    with pytest.raises(ValidationError, match="at most 100 characters"):
        services.update_provider(name="openai", api_key_env="K" * 101)
    with pytest.raises(ValidationError, match="not a valid provider name"):
        services.add_provider(name="p" * 65, base_url="https://x.test/v1")
    with pytest.raises(ValidationError, match="control characters"):
        services.save_provider_model(provider="openai", name="gpt-4.1\x00", supports_text=True)
    with pytest.raises(ValidationError, match="at most 200 characters"):
        services.save_model_price(provider="openai", model=LONG_MODEL, input_per_million="1")
    with pytest.raises(ValidationError, match="not a valid task name"):
        services.add_task(name="t" * 65, provider="openai")
    with pytest.raises(ValidationError, match="at most 300 characters"):
        services.add_task(name="summaries", provider="openai", description="d" * 301)
    assert ConfigChange.objects.count() == changes
    assert Provider.objects.get(name="openai").default_text_model == "gpt-4.1"


# --- dashboard -----------------------------------------------------------------------------


def test_dashboard_shows_the_limits_next_to_the_fields(editor: Any) -> None:
    changes = ConfigChange.objects.count()
    response = _client(editor).post(
        "/tasks/text/edit/",
        {
            "text-provider": "openai",
            "text-model": "gpt 4.1",
            "text-timeout_seconds": "0.001",
            "text-max_retries": "0",
            "action": "save",
        },
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "spaces or control characters" in _errors_for(html, "id_text-model")
    assert "Use 1 to 600 seconds" in _errors_for(html, "id_text-timeout_seconds")
    assert ConfigChange.objects.count() == changes


def test_odd_stored_timeouts_are_shown_as_stored(viewer: Any) -> None:
    # Stored before this rule existed (or written straight to the database).
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=0.001)
    html = _client(viewer).get("/").content.decode()
    assert "0.001 s" in html
    assert "0.0 s" not in html


# --- admin ---------------------------------------------------------------------------------


def test_admin_refuses_out_of_limit_values(admin_user: Any) -> None:
    client = _client(admin_user)
    assignment = TaskAssignment.objects.get(task__name="text")
    response = client.post(
        f"/admin/aiconfig/taskassignment/{assignment.pk}/change/",
        {
            "provider": "openai",
            "model": "gpt-4.1\ttab",
            "timeout_seconds": "0.5",
            "max_retries": "0",
            "fallbacks-TOTAL_FORMS": "0",
            "fallbacks-INITIAL_FORMS": "0",
            "fallbacks-MIN_NUM_FORMS": "0",
            "fallbacks-MAX_NUM_FORMS": "1000",
        },
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "spaces or control characters" in html
    assert "Use 1 to 600 seconds" in html

    provider = Provider.objects.get(name="ollama")
    response = client.post(
        f"/admin/aiconfig/provider/{provider.pk}/change/",
        {
            "label": provider.label,
            "enabled": "on",
            "base_url": provider.base_url,
            "api_key_env": "",
            "default_text_model": "llama 3",
            "default_image_model": "",
            "pricing_id": provider.pricing_id,
            "self_hosted": "on",
            "models-TOTAL_FORMS": "1",
            "models-INITIAL_FORMS": "0",
            "models-MIN_NUM_FORMS": "0",
            "models-MAX_NUM_FORMS": "1000",
            "models-0-name": "bad\x0bname",
            "models-0-supports_text": "on",
            "models-0-provider": str(provider.pk),
        },
    )
    assert response.status_code == 200
    assert response.content.decode().count("spaces or control characters") == 2
    assert not ProviderModel.objects.filter(name__startswith="bad").exists()
    assert TaskAssignment.objects.get(pk=assignment.pk).model == assignment.model


# --- command line ----------------------------------------------------------------------------


def test_cli_set_refuses_a_300_character_model_with_a_clear_error(manage: Manage) -> None:
    manage("migrate", "-v0")
    result = manage("ai_config", "set", "text", "--model", LONG_MODEL, check=False)
    assert result.returncode != 0
    assert "at most 200 characters" in result.stderr
    assert "Traceback" not in result.stderr
    assert "DataError" not in result.stderr
    result = manage("ai_config", "set", "text", "--timeout", "0.001", check=False)
    assert result.returncode != 0
    assert "Use 1 to 600 seconds" in result.stderr
    shown = manage.json("ai_config", "--json")
    text = next(t for t in shown["tasks"] if t["task"] == "text")
    assert (text["model"], text["timeout_seconds"]) == ("gpt-4.1", 60.0)


# --- refusals are logged as one line --------------------------------------------------------


def test_a_refused_request_logs_one_line_without_traceback(
    viewer: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="django.request"):
        response = _client(viewer).post("/providers/openai/edit/", {"base_url": "https://x.test"})
    assert response.status_code == 403
    records = [r for r in caplog.records if r.name == "django.request"]
    assert len(records) == 1
    message = records[0].getMessage()
    assert message.startswith("Forbidden: /providers/openai/edit/ user=viewer: You need the ")
    assert "\n" not in message
    assert records[0].exc_info is None


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("nan", "Task 'text': timeout is not a number. Use 1 to 600 seconds."),
        ("inf", "Task 'text': timeout is infinite. Use 1 to 600 seconds."),
        ("700", "Task 'text': timeout 700 s is out of range. Use 1 to 600 seconds."),
    ],
)
def test_an_impossible_timeout_is_named_in_words(value: str, text: str) -> None:
    # `ai_config set --timeout nan` used to answer "timeout nans is out of range".
    with pytest.raises(CommandError) as excinfo:
        call_command("ai_config", "set", "text", "--timeout", value)
    assert str(excinfo.value) == text


def test_ai_config_shows_the_timeout_with_its_unit() -> None:
    services.update_task_config(task="text", timeout_seconds=2.5)
    out = io.StringIO()
    call_command("ai_config", stdout=out)
    assert "timeout 2.5 s, retries" in out.getvalue()
