"""No lost edits: stale saves are refused, reverts and disabling ask first.

Two people with the same form open, a one-click revert that takes later work with
it, a switch that quietly breaks every task: each test plays one of those and checks
that nobody's work disappears without them being told.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from aiconfig import selectors, services
from aiconfig.exceptions import RevertNeedsConfirmation, StaleEdit
from aiconfig.models import ConfigChange, Provider, TaskType
from aiconfig.validation import check_snapshot
from tests.conftest import Manage

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


# --- helpers -------------------------------------------------------------------------


@pytest.fixture
def ada(editor: Any) -> Client:
    """The first editor (the `editor` user, renamed so messages read naturally)."""
    editor.username = "ada"
    editor.save()
    client = Client()
    client.force_login(editor)
    return client


@pytest.fixture
def bob(editor: Any, django_user_model: Any) -> Client:
    """A second editor with the same permissions as the first."""
    user = django_user_model.objects.create_user(username="bob", password="bob-pass-123")
    user.user_permissions.set(editor.user_permissions.all())
    client = Client()
    client.force_login(user)
    return client


def form_values(html: str, form_action: str) -> dict[str, str]:
    """The values a browser would post from the form with `form_action` (inputs/selects)."""
    start = html.index(f'action="{form_action}"')
    body = html[start : html.index("</form>", start)]
    values: dict[str, str] = {}
    for tag in re.findall(r"<input[^>]*>", body):
        name = re.search(r'name="([^"]+)"', tag)
        if not name or name.group(1) == "csrfmiddlewaretoken":
            continue
        kind = re.search(r'type="([^"]+)"', tag)
        if kind and kind.group(1) == "checkbox":
            if " checked" in tag:
                values[name.group(1)] = "on"
            continue
        value = re.search(r'value="([^"]*)"', tag)
        values[name.group(1)] = value.group(1) if value else ""
    for name, options in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', body, re.S):
        selected = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        values[name] = selected.group(1) if selected else ""
    values["action"] = "save"
    return values


def open_task_editor(client: Client, task: str) -> dict[str, str]:
    html = client.get(f"/?edit={task}").content.decode()
    return form_values(html, f"/tasks/{task}/edit/")


def open_provider_editor(client: Client, name: str) -> dict[str, str]:
    html = client.get(f"/providers/?edit={name}").content.decode()
    return form_values(html, f"/providers/{name}/edit/")


def task_config(task: str) -> Any:
    selectors.clear_config_cache()
    return selectors.get_task_config(task=task)


# --- services --------------------------------------------------------------------------


def test_a_service_write_from_an_old_version_is_refused_and_saves_nothing() -> None:
    version = selectors.change_version(target_type="task", target_name="image")
    services.update_task_config(task="image", model="gpt-image-1", expected_version=version)
    newer = selectors.change_version(target_type="task", target_name="image")
    assert newer > version

    with pytest.raises(StaleEdit) as refused:
        services.update_task_config(task="image", timeout_seconds=30, expected_version=version)
    assert refused.value.version == newer
    assert [c.pk for c in refused.value.changes] == [newer]
    assert "gpt-image-1" in str(refused.value)
    assert task_config("image").timeout_seconds != 30

    services.update_task_config(task="image", timeout_seconds=30, expected_version=newer)
    config = task_config("image")
    assert (config.model, config.timeout_seconds) == ("gpt-image-1", 30)


def test_callers_without_a_version_still_write_last_wins() -> None:
    """The CLI and code pass no version: documented last-writer-wins."""
    services.update_task_config(task="text", timeout_seconds=30)
    services.update_task_config(task="text", timeout_seconds=40)
    assert task_config("text").timeout_seconds == 40


def test_provider_and_model_writes_check_the_version() -> None:
    version = selectors.change_version(target_type="provider", target_name="ollama")
    services.update_provider(name="ollama", label="GPU box", expected_version=version)
    with pytest.raises(StaleEdit):
        services.update_provider(name="ollama", self_hosted=False, expected_version=version)
    assert Provider.objects.get(name="ollama").label == "GPU box"

    services.save_provider_model(provider="ollama", name="qwen3", supports_text=True)
    model_version = selectors.change_version(target_type="model", target_name="ollama/qwen3")
    with pytest.raises(StaleEdit):
        services.save_provider_model(
            provider="ollama", name="qwen3", supports_tools=True, expected_version=model_version - 1
        )
    services.save_provider_model(
        provider="ollama",
        name="qwen3",
        supports_text=True,
        supports_tools=True,
        expected_version=model_version,
    )
    assert selectors.get_provider(name="ollama").models["qwen3"].tools is True


def test_revert_with_later_changes_needs_confirmation() -> None:
    services.add_task(name="summaries", provider="openai", model="gpt-4o-mini")
    created = ConfigChange.objects.order_by("-id").first()
    assert created is not None
    services.update_task_config(task="summaries", timeout_seconds=30)
    later = ConfigChange.objects.order_by("-id").first()
    assert later is not None

    assert selectors.later_changes(change=created) == [later]
    with pytest.raises(RevertNeedsConfirmation) as asked:
        services.revert_change(change_id=created.pk)
    message = str(asked.value)
    assert f"Reverting #{created.pk} deletes task 'summaries'" in message
    assert f"#{later.pk} (timeout 60.0 → 30.0" in message
    assert TaskType.objects.filter(name="summaries").exists()

    services.revert_change(change_id=created.pk, confirm_later_changes=True)
    assert not TaskType.objects.filter(name="summaries").exists()


def test_revert_without_later_changes_needs_no_confirmation() -> None:
    services.update_task_config(task="text", timeout_seconds=30)
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    services.revert_change(change_id=change.pk)
    assert task_config("text").timeout_seconds != 30


def test_a_task_whose_every_provider_is_disabled_is_an_error() -> None:
    services.update_task_config(task="text", fallbacks=["anthropic:claude-3-5-haiku-20241022"])
    services.update_provider(name="openai", enabled=False)
    problems = check_snapshot(selectors.load_snapshot(), environ={})
    text = [p for p in problems if p.task == "text"]
    # "text" still has anthropic: the disabled primary stays a warning.
    assert {(p.code, p.level) for p in text} >= {("provider_disabled", "warning")}
    assert "no_enabled_route" not in {p.code for p in text}
    image = [p for p in problems if p.task == "image" and p.code == "no_enabled_route"]
    assert [p.level for p in image] == ["error"]
    assert "Task 'image' has no enabled provider: 'openai' is disabled" in image[0].message
    # Saving a chain with no enabled provider is refused like any other error.
    with pytest.raises(ValidationError, match="no enabled provider"):
        services.update_task_config(task="image", timeout_seconds=30)


# --- the dashboard: two people editing the same task --------------------------------------


def test_second_stale_task_save_is_refused_and_keeps_what_was_typed(
    ada: Client, bob: Client
) -> None:
    ada_form = open_task_editor(ada, "image")
    bob_form = open_task_editor(bob, "image")
    assert ada_form["image-version"] == bob_form["image-version"] != ""
    original_model = ada_form["image-model"]

    ada_form["image-model"] = "gpt-image-1"
    assert ada.post("/tasks/image/edit/", ada_form).status_code == 302
    assert task_config("image").model == "gpt-image-1"

    bob_form["image-timeout_seconds"] = "42"
    refused = bob.post("/tasks/image/edit/", bob_form, headers=HX)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "since you opened this" in html
    assert f"ada changed primary openai/{original_model} → openai/gpt-image-1" in html
    assert "Not saved" in json.loads(refused["HX-Trigger"])["toast"]["message"]
    # Bob's typed timeout is still there; the model Ada chose now shows in his form.
    again = form_values(html, "/tasks/image/edit/")
    assert again["image-timeout_seconds"] == "42"
    assert again["image-model"] == "gpt-image-1"
    assert int(again["image-version"]) > int(bob_form["image-version"])
    config = task_config("image")
    assert (config.model, config.timeout_seconds) != ("gpt-image-1", 42)
    assert config.model == "gpt-image-1"

    # After reviewing, a second Save keeps both edits.
    assert bob.post("/tasks/image/edit/", again, headers=HX).status_code == 200
    config = task_config("image")
    assert (config.model, config.timeout_seconds) == ("gpt-image-1", 42)


def test_stale_task_save_without_javascript_shows_the_whole_page(ada: Client, bob: Client) -> None:
    bob_form = open_task_editor(bob, "text")
    services.update_task_config(task="text", max_retries=2)
    bob_form["text-timeout_seconds"] = "33"
    refused = bob.post("/tasks/text/edit/", bob_form)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "<html" in html
    assert "someone changed retries 0 → 2" in html
    again = form_values(html, "/tasks/text/edit/")
    assert (again["text-timeout_seconds"], again["text-max_retries"]) == ("33", "2")


def test_a_row_button_keeps_the_version_the_form_was_opened_at(bob: Client) -> None:
    form = open_task_editor(bob, "text")
    services.update_task_config(task="text", max_retries=1)
    html = bob.post("/tasks/text/edit/", {**form, "action": "add_fallback"}, headers=HX)
    assert (
        form_values(html.content.decode(), "/tasks/text/edit/")["text-version"]
        == (form["text-version"])
    )


# --- the dashboard: two people editing the same provider ----------------------------------


def test_second_stale_provider_save_is_refused_and_keeps_what_was_typed(
    ada: Client, bob: Client
) -> None:
    ada_form = open_provider_editor(ada, "ollama")
    bob_form = open_provider_editor(bob, "ollama")
    ada_form["edit-ollama-label"] = "GPU box"
    assert ada.post("/providers/ollama/edit/", ada_form).status_code == 302

    bob_form["edit-ollama-default_text_model"] = "qwen3:8b"
    refused = bob.post("/providers/ollama/edit/", bob_form, headers=HX)
    assert refused.status_code == 409
    html = refused.content.decode()
    assert "ada changed label" in html
    assert "GPU box" in html
    again = form_values(html, "/providers/ollama/edit/")
    assert again["edit-ollama-default_text_model"] == "qwen3:8b"
    assert again["edit-ollama-label"] == "GPU box"
    stored = Provider.objects.get(name="ollama")
    assert (stored.label, stored.default_text_model) == ("GPU box", "mistral")

    assert bob.post("/providers/ollama/edit/", again, headers=HX).status_code == 200
    stored = Provider.objects.get(name="ollama")
    assert (stored.label, stored.default_text_model) == ("GPU box", "qwen3:8b")


# --- manage.py check -------------------------------------------------------------------------


def test_manage_check_fails_naming_a_task_whose_every_provider_is_disabled(
    manage: Manage,
) -> None:
    keys = {"OPENAI_API_KEY": "sk-proj-test-lost-0001", "ANTHROPIC_API_KEY": "sk-ant-test-0002"}
    manage("migrate", "-v0", env=keys)
    manage(
        "shell",
        "-c",
        "from aiconfig import services; services.update_provider(name='openai', enabled=False)",
        env=keys,
    )
    result = manage("check", env=keys, check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "aiconfig.E011" in output
    assert "Task 'image' has no enabled provider: 'openai' is disabled" in output
