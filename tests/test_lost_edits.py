"""No lost edits: stale saves are refused, reverts and disabling ask first.

Two people with the same form open, a one-click revert that takes later work with
it, a switch that quietly breaks every task: each test plays one of those and checks
that nobody's work disappears without them being told.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client

from aiconfig import selectors, services
from aiconfig.exceptions import RevertNeedsConfirmation, StaleEdit
from aiconfig.models import ConfigChange, Provider, TaskAssignment, TaskType
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


def form_values(html: str, form_action: str, *, after: str = "") -> dict[str, str]:
    """The values a browser would post from the form with `form_action` (inputs/selects).

    `after`: take the first such form after this text (e.g. a confirm panel's id).
    """
    start = html.index(f'action="{form_action}"', html.index(after) if after else 0)
    return _posted_values(html[start : html.index("</form>", start)])


def _posted_values(body: str) -> dict[str, str]:
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


# --- the dashboard: revert asks first --------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_revert_of_a_create_with_a_later_edit_asks_first_and_names_it(
    ada: Client, bob: Client, htmx: bool
) -> None:
    headers = HX if htmx else {}
    created_page = ada.post(
        "/tasks/add/",
        {
            "new-task-name": "summaries",
            "new-task-output_kind": "text",
            "new-task-provider": "openai",
            "new-task-model": "gpt-4o-mini",
        },
    )
    assert created_page.status_code == 302
    created = ConfigChange.objects.order_by("-id").first()
    assert created is not None
    form = open_task_editor(bob, "summaries")
    form["summaries-timeout_seconds"] = "30"
    assert bob.post("/tasks/summaries/edit/", form).status_code == 302
    later = ConfigChange.objects.order_by("-id").first()
    assert later is not None
    count = ConfigChange.objects.count()

    # The Revert button only asks.
    asked = ada.post(f"/history/{created.pk}/revert/", {"query": ""}, headers=headers)
    assert asked.status_code == 200
    html = asked.content.decode()
    assert (
        f"Reverting #{created.pk} deletes task &#x27;summaries&#x27; and with it the later "
        f"change #{later.pk} (timeout 60.0 → 30.0 by bob)." in html
    )
    assert "bob changed timeout 60.0 → 30.0" in html
    assert TaskType.objects.filter(name="summaries").exists()
    assert ConfigChange.objects.count() == count

    # Confirming reverts (the confirmation carries the version it described).
    confirm = form_values(html, f"/history/{created.pk}/revert/")
    assert confirm["confirm"] == "1"
    done = ada.post(f"/history/{created.pk}/revert/", confirm, headers=headers)
    assert done.status_code == (200 if htmx else 302)
    assert not TaskType.objects.filter(name="summaries").exists()


def test_revert_confirmation_works_as_a_plain_link_and_needs_the_permission(
    ada: Client, viewer: Any
) -> None:
    services.update_task_config(task="text", timeout_seconds=30)
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    page = ada.get(f"/history/{change.pk}/revert/")
    assert page.status_code == 200
    assert f"Reverting #{change.pk} puts task &#x27;text&#x27; back as it was" in (
        page.content.decode()
    )
    assert task_config("text").timeout_seconds == 30
    stranger = Client()
    stranger.force_login(viewer)
    assert stranger.get(f"/history/{change.pk}/revert/").status_code == 403


def test_revert_confirmed_after_another_change_asks_again(ada: Client) -> None:
    services.update_task_config(task="text", timeout_seconds=30)
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    confirm = form_values(
        ada.get(f"/history/{change.pk}/revert/").content.decode(),
        f"/history/{change.pk}/revert/",
    )
    services.update_task_config(task="text", max_retries=3)
    again = ada.post(f"/history/{change.pk}/revert/", confirm)
    assert again.status_code == 200
    html = again.content.decode()
    assert "changed again while you were looking" in html
    assert "retries 0 → 3" in html
    assert task_config("text").timeout_seconds == 30


# --- the dashboard: disabling a provider that tasks use asks first -------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_disabling_a_provider_in_use_asks_first_and_names_the_tasks(
    ada: Client, htmx: bool
) -> None:
    headers = HX if htmx else {}
    services.update_task_config(task="text", fallbacks=["anthropic:claude-3-5-haiku-20241022"])
    count = ConfigChange.objects.count()
    asked = ada.post("/providers/openai/enabled/", {"enabled": "false"}, headers=headers)
    assert asked.status_code == 200
    html = asked.content.decode()
    assert "Disable OpenAI?" in html
    assert "It serves agent, image, text, video-slides." in html
    assert "agent, image, video-slides would have no enabled provider left" in html
    assert "text would skip it" in html
    assert Provider.objects.get(name="openai").enabled is True
    assert ConfigChange.objects.count() == count

    confirm = form_values(html, "/providers/openai/enabled/", after='id="provider-openai-confirm"')
    assert confirm == {"enabled": "false", "confirm": "1", "action": "save"}
    ada.post("/providers/openai/enabled/", confirm, headers=headers)
    assert Provider.objects.get(name="openai").enabled is False
    # Now the Tasks page says so in red, not yellow.
    tasks_page = ada.get("/").content.decode()
    assert "Task &#x27;image&#x27; has no enabled provider" in tasks_page


def test_disabling_an_unused_provider_needs_no_confirmation(ada: Client) -> None:
    ada.post("/providers/ollama/enabled/", {"enabled": "false"}, headers=HX)
    assert Provider.objects.get(name="ollama").enabled is False


# --- the admin refuses a stale save too --------------------------------------------------------


@pytest.fixture
def admin_client_(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def admin_form(html: str, model: str) -> dict[str, str]:
    """What the admin change form posts (inputs, selects, the inline management form)."""
    start = html.index(f'id="{model}_form"')
    values = _posted_values(html[start : html.index("</form>", start)])
    values.pop("action", None)
    return {k: v for k, v in values.items() if "__prefix__" not in k}


def test_admin_refuses_a_stale_task_save_and_keeps_the_input(admin_client_: Client) -> None:
    assignment = TaskAssignment.objects.get(task__name="image")
    url = f"/admin/aiconfig/taskassignment/{assignment.pk}/change/"
    form = admin_form(admin_client_.get(url).content.decode(), "taskassignment")
    assert form["version"] != ""
    services.update_task_config(task="image", model="gpt-image-1", user=None)

    form["timeout_seconds"] = "42"
    refused = admin_client_.post(url, form)
    assert refused.status_code == 200
    html = refused.content.decode()
    assert "since you opened this" in html
    assert "primary openai/dall-e-3 → openai/gpt-image-1" in html
    again = admin_form(html, "taskassignment")
    assert again["timeout_seconds"] == "42"
    assert task_config("image").timeout_seconds != 42
    assert task_config("image").model == "gpt-image-1"

    # Saving again, after the look, goes through (with what the form now holds).
    assert admin_client_.post(url, again).status_code == 302
    assert task_config("image").timeout_seconds == 42


def test_admin_refuses_a_stale_provider_save(admin_client_: Client) -> None:
    provider = Provider.objects.get(name="ollama")
    url = f"/admin/aiconfig/provider/{provider.pk}/change/"
    form = admin_form(admin_client_.get(url).content.decode(), "provider")
    services.update_provider(name="ollama", label="GPU box")
    form["default_text_model"] = "qwen3:8b"
    refused = admin_client_.post(url, form)
    assert refused.status_code == 200
    assert "GPU box" in refused.content.decode()
    assert Provider.objects.get(name="ollama").default_text_model == "mistral"


def test_admin_revert_with_later_changes_needs_the_explicit_action(admin_client_: Client) -> None:
    services.add_task(name="summaries", provider="openai", model="gpt-4o-mini")
    created = ConfigChange.objects.order_by("-id").first()
    assert created is not None
    services.update_task_config(task="summaries", timeout_seconds=30)
    listing = "/admin/aiconfig/configchange/"
    first = admin_client_.post(
        listing,
        {"action": "revert_selected", "_selected_action": [str(created.pk)]},
        follow=True,
    )
    assert "deletes task &#x27;summaries&#x27; and with it the later change" in (
        first.content.decode()
    )
    assert TaskType.objects.filter(name="summaries").exists()
    admin_client_.post(
        listing, {"action": "revert_selected_with_later", "_selected_action": [str(created.pk)]}
    )
    assert not TaskType.objects.filter(name="summaries").exists()


def test_cli_revert_names_later_changes_and_needs_confirm() -> None:
    services.add_task(name="summaries", provider="openai", model="gpt-4o-mini")
    created = ConfigChange.objects.order_by("-id").first()
    assert created is not None
    services.update_task_config(task="summaries", max_retries=2)
    with pytest.raises(CommandError, match=r"and with it the later change #\d+ \(retries 0 → 2"):
        call_command("ai_config", "revert", str(created.pk))
    assert TaskType.objects.filter(name="summaries").exists()
    call_command("ai_config", "revert", str(created.pk), "--confirm", stdout=io.StringIO())
    assert not TaskType.objects.filter(name="summaries").exists()
