"""The Django admin edits the configuration through the services, and never shows a key."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from aiconfig import selectors
from aiconfig.models import ConfigChange, Provider, TaskAssignment

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(admin_user: Any) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _assignment_form(
    task: str, *, provider: str, model: str, fallbacks: list[tuple[str, str]]
) -> dict[str, str]:
    assignment = TaskAssignment.objects.get(task__name=task)
    existing = list(assignment.fallbacks.order_by("position"))
    data = {
        "provider": provider,
        "model": model,
        "timeout_seconds": "30",
        "max_retries": "0",
        "fallbacks-TOTAL_FORMS": str(len(fallbacks)),
        "fallbacks-INITIAL_FORMS": str(len(existing)),
        "fallbacks-MIN_NUM_FORMS": "0",
        "fallbacks-MAX_NUM_FORMS": "1000",
    }
    for i, (p, m) in enumerate(fallbacks):
        data.update(
            {
                f"fallbacks-{i}-position": str(i),
                f"fallbacks-{i}-provider": p,
                f"fallbacks-{i}-model": m,
                f"fallbacks-{i}-assignment": str(assignment.pk),
            }
        )
        if i < len(existing):
            data[f"fallbacks-{i}-id"] = str(existing[i].pk)
    return data


def _change_url(task: str) -> str:
    return (
        f"/admin/aiconfig/taskassignment/{TaskAssignment.objects.get(task__name=task).pk}/change/"
    )


def test_admin_edit_goes_through_the_service(admin_user_client: Client, admin_user: Any) -> None:
    data = _assignment_form(
        "text",
        provider="anthropic",
        model="claude-3-haiku-20240307",
        fallbacks=[("openai", "gpt-4o-mini"), ("gemini", "")],
    )
    response = admin_user_client.post(_change_url("text"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    config = selectors.get_task_config(task="text")
    assert str(config.primary.route) == "anthropic/claude-3-haiku-20240307"
    assert [str(f.route) for f in config.fallbacks] == [
        "openai/gpt-4o-mini",
        "gemini/gemini-2.0-flash",
    ]
    assert config.timeout_seconds == 30
    change = ConfigChange.objects.first()
    assert change is not None
    assert (change.channel, change.user) == ("admin", admin_user)


def test_admin_rejects_anthropic_for_images_and_saves_nothing(admin_user_client: Client) -> None:
    before = selectors.load_snapshot()
    data = _assignment_form("image", provider="anthropic", model="", fallbacks=[])
    response = admin_user_client.post(_change_url("image"), data)
    assert response.status_code == 200
    assert response.content.decode().count("Anthropic does not generate images") == 1
    assert selectors.load_snapshot().version == before.version


def test_admin_rejects_a_fallback_equal_to_the_primary(admin_user_client: Client) -> None:
    data = _assignment_form(
        "text", provider="openai", model="gpt-4.1", fallbacks=[("openai", "gpt-4.1")]
    )
    response = admin_user_client.post(_change_url("text"), data)
    assert response.status_code == 200
    assert response.content.decode().count("same as the primary") == 1
    assert selectors.get_task_config(task="text").fallbacks == ()


def test_admin_edit_survives_a_later_migrate_with_other_env(
    admin_user_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _assignment_form("text", provider="openai", model="gpt-4o-mini", fallbacks=[])
    assert admin_user_client.post(_change_url("text"), data).status_code == 302
    monkeypatch.setenv("AI_TEXT_PROVIDER", "anthropic")
    monkeypatch.setenv("AI_TEXT_MODEL", "claude-3-opus-20250219")
    call_command("migrate", verbosity=0)
    assert str(selectors.get_task_config(task="text").primary.route) == "openai/gpt-4o-mini"


def test_admin_never_shows_a_key(
    admin_user_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "sk-proj-ADMINSECRET-abcdefghijkl-WXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    pages = [
        "/admin/aiconfig/provider/",
        f"/admin/aiconfig/provider/{Provider.objects.get(name='openai').pk}/change/",
        "/admin/aiconfig/taskassignment/",
        _change_url("text"),
        "/admin/aiconfig/configchange/",
    ]
    for url in pages:
        html = admin_user_client.get(url).content.decode()
        assert secret not in html
        assert "ADMINSECRET" not in html
    listing = admin_user_client.get("/admin/aiconfig/provider/").content.decode()
    assert "OPENAI_API_KEY: set (…WXYZ)" in listing
    assert "ANTHROPIC_API_KEY: missing" in listing


def test_admin_provider_form_refuses_a_pasted_key(admin_user_client: Client) -> None:
    provider = Provider.objects.get(name="together")
    url = f"/admin/aiconfig/provider/{provider.pk}/change/"
    data = {
        "label": provider.label,
        "enabled": "on",
        "base_url": "https://api.together.xyz/v1",
        "api_key_env": "tg-0123456789abcdef0123456789 pasted",
        "key_required": "on",
        "default_text_model": provider.default_text_model,
        "default_image_model": provider.default_image_model,
        "pricing_id": provider.pricing_id,
        "models-TOTAL_FORMS": "0",
        "models-INITIAL_FORMS": "0",
        "models-MIN_NUM_FORMS": "0",
        "models-MAX_NUM_FORMS": "1000",
    }
    response = admin_user_client.post(url, data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "never the key itself" in html
    provider.refresh_from_db()
    assert provider.api_key_env == "TOGETHER_API_KEY"


def test_admin_adds_a_custom_task(admin_user_client: Client) -> None:
    response = admin_user_client.post(
        "/admin/aiconfig/tasktype/add/",
        {
            "name": "alt-text",
            "output_kind": "text",
            "description": "Alt text",
            "provider": "openai",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    config = selectors.get_task_config(task="alt-text")
    assert str(config.primary.route) == "openai/gpt-4.1"


def test_admin_history_can_revert(admin_user_client: Client) -> None:
    data = _assignment_form("text", provider="openai", model="gpt-4o", fallbacks=[])
    admin_user_client.post(_change_url("text"), data)
    change = ConfigChange.objects.first()
    assert change is not None
    response = admin_user_client.post(
        "/admin/aiconfig/configchange/",
        {"action": "revert_selected", "_selected_action": [str(change.pk)]},
    )
    assert response.status_code == 302
    assert selectors.get_task_config(task="text").model == "gpt-4.1"
