"""The dashboard through Django's test client: pages, edits, permissions, CSRF, secrets, CSP."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client

from aiconfig import selectors, services
from aiconfig.models import CallLog, Channel, ConfigChange, Provider, ProviderModel, TaskType
from tests.fake_provider import FakeProvider, closed_port_url

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
OPENAI_KEY = "sk-proj-VIEWTEST-00000000000000-OA77"
ANTHROPIC_KEY = "sk-ant-VIEWTEST-000000000000000-AN88"


# --- helpers ---------------------------------------------------------------------------


def client_for(user: Any, *, enforce_csrf_checks: bool = False) -> Client:
    """A client signed in as `user`."""
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


@pytest.fixture
def editor_client(editor: Any) -> Client:
    return client_for(editor)


@pytest.fixture
def endpoint_admin_client(endpoint_admin: Any) -> Client:
    return client_for(endpoint_admin)


@pytest.fixture
def viewer_client(viewer: Any) -> Client:
    return client_for(viewer)


@pytest.fixture
def fake_ai(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """OpenAI and Anthropic pointed at the local fake server (through the services), keys set."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


def task_form(
    task: str,
    *,
    provider: str,
    model: str = "",
    fallbacks: tuple[tuple[str, str], ...] = (),
    timeout: str = "30",
    retries: str = "0",
    action: str = "save",
) -> dict[str, str]:
    """The POST body of a task card's editor."""
    data = {
        f"{task}-provider": provider,
        f"{task}-model": model,
        f"{task}-timeout_seconds": timeout,
        f"{task}-max_retries": retries,
        "action": action,
    }
    for i, (p, m) in enumerate(fallbacks):
        data[f"{task}-fb-{i}-provider"] = p
        data[f"{task}-fb-{i}-model"] = m
    return data


def chain(task: str) -> list[str]:
    """The task's stored chain as "provider/model" strings."""
    selectors.clear_config_cache()
    return [str(step.route) for step in selectors.get_task_config(task=task).chain]


def fingerprint() -> tuple[int, ...]:
    """Counts that move when anything is written: every config write records a change."""
    return (
        ConfigChange.objects.count(),
        CallLog.objects.count(),
        TaskType.objects.count(),
        Provider.objects.filter(enabled=True).count(),
        ProviderModel.objects.count(),
    )


def field_errors(html: str, field_id: str) -> str:
    """The text of the error list Django renders next to the input `field_id`."""
    match = re.search(rf'<ul class="errorlist" id="{field_id}_error">(.*?)</ul>', html, re.S)
    return re.sub(r"<[^>]+>", "", match.group(1)) if match else ""


# --- every mutating endpoint, with a body that would succeed --------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: Callable[[], str]
    data: Callable[[], dict[str, str]]


def _latest_change_url() -> str:
    services.update_task_config(task="agent", timeout_seconds=45)
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    return f"/history/{change.pk}/revert/"


ENDPOINTS = [
    Endpoint(
        "task_edit",
        lambda: "/tasks/text/edit/",
        lambda: task_form("text", provider="anthropic", model="claude-3-haiku-20240307"),
    ),
    Endpoint(
        "task_row_action",
        lambda: "/tasks/text/edit/",
        lambda: task_form("text", provider="openai", action="add_fallback"),
    ),
    Endpoint(
        "task_add",
        lambda: "/tasks/add/",
        lambda: {
            "new-task-name": "summaries",
            "new-task-output_kind": "text",
            "new-task-provider": "openai",
            "new-task-model": "gpt-4o-mini",
        },
    ),
    Endpoint("task_try", lambda: "/tasks/text/try/", lambda: {"try-text-prompt": "hello"}),
    # Disabling a provider that tasks use asks first; `confirm=1` is the second click.
    Endpoint(
        "provider_toggle",
        lambda: "/providers/openai/enabled/",
        lambda: {"enabled": "false", "confirm": "1"},
    ),
    Endpoint(
        "provider_edit",
        lambda: "/providers/openai/edit/",
        lambda: {
            "edit-openai-label": "OpenAI (prod)",
            "edit-openai-base_url": "https://api.openai.com/v1",
            "edit-openai-api_key_env": "OPENAI_API_KEY",
            "edit-openai-key_required": "on",
            "edit-openai-default_text_model": "gpt-4.1",
            "edit-openai-default_image_model": "dall-e-3",
        },
    ),
    Endpoint(
        "provider_model_add",
        lambda: "/providers/openai/models/",
        lambda: {"model-openai-name": "gpt-5-preview", "model-openai-supports_text": "on"},
    ),
    Endpoint("provider_test", lambda: "/providers/openai/test/", dict),
    Endpoint(
        "provider_add",
        lambda: "/providers/add/",
        lambda: {
            "new-provider-name": "my-vllm",
            "new-provider-base_url": "https://llm.example.com/v1",
            "new-provider-api_key_env": "MY_VLLM_API_KEY",
        },
    ),
    Endpoint("change_revert", _latest_change_url, lambda: {"confirm": "1"}),
]
ENDPOINT_IDS = [e.name for e in ENDPOINTS]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_post_without_a_session_redirects_to_login_and_changes_nothing(
    endpoint: Endpoint, fake_ai: FakeProvider
) -> None:
    url, data = endpoint.url(), endpoint.data()
    before = fingerprint()
    response = Client().post(url, data)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")
    assert fingerprint() == before
    assert fake_ai.requests == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_htmx_post_without_a_session_sends_the_whole_page_to_login(
    endpoint: Endpoint, fake_ai: FakeProvider
) -> None:
    """Not the sign-in form swapped into a card: htmx is told to load the login page."""
    url, data = endpoint.url(), endpoint.data()
    before = fingerprint()
    headers = {**HX, "HX-Current-URL": "http://testserver/providers/?edit=openai"}
    response = Client().post(url, data, headers=headers)
    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=/providers/%3Fedit%3Dopenai"
    assert fingerprint() == before
    assert fake_ai.requests == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_post_without_csrf_token_is_refused_and_changes_nothing(
    endpoint: Endpoint, editor: Any, fake_ai: FakeProvider
) -> None:
    url, data = endpoint.url(), endpoint.data()
    before = fingerprint()
    client = client_for(editor, enforce_csrf_checks=True)
    response = client.post(url, data, headers=HX)
    assert response.status_code == 403
    assert fingerprint() == before
    assert fake_ai.requests == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_post_from_a_read_only_user_is_forbidden_and_changes_nothing(
    endpoint: Endpoint, viewer_client: Client, fake_ai: FakeProvider
) -> None:
    url, data = endpoint.url(), endpoint.data()
    before = fingerprint()
    for headers in ({}, HX):
        response = viewer_client.post(url, data, headers=headers)
        assert response.status_code == 403
    assert fingerprint() == before
    assert fake_ai.requests == []


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_each_endpoint_works_for_an_editor_with_a_csrf_token(
    endpoint: Endpoint, editor: Any, fake_ai: FakeProvider
) -> None:
    """The counterpart of the refusals above: the same request, done properly, succeeds."""
    url, data = endpoint.url(), endpoint.data()
    client = client_for(editor, enforce_csrf_checks=True)
    page = client.get("/")
    token = page.cookies["csrftoken"].value
    response = client.post(url, data, headers={**HX, "X-CSRFToken": token})
    assert response.status_code == 200, response.content.decode()[:2000]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=ENDPOINT_IDS)
def test_mutating_endpoints_refuse_get(endpoint: Endpoint, editor_client: Client) -> None:
    url = endpoint.url()
    before = fingerprint()
    response = editor_client.get(url, endpoint.data())
    if endpoint.name == "change_revert":
        # GET is the revert's confirm step (a link that works without JavaScript): it
        # only shows what reverting would do, even with confirm=1 in the query string.
        assert response.status_code == 200
        assert "Revert #" in response.content.decode()
    else:
        assert response.status_code == 405
    assert fingerprint() == before


# --- sign-in ---------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/providers/", "/history/", "/tasks/text/card/"])
def test_every_page_needs_a_session(url: str) -> None:
    response = Client().get(url)
    assert response.status_code == 302
    assert response["Location"] == f"/login/?next={url}"


def test_login_page_is_public_and_signs_in(editor: Any) -> None:
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert 'for="id_username"' in page.content.decode()
    response = client.post("/login/", {"username": "editor", "password": "editor-pass-123"})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_logout_needs_post(editor_client: Client) -> None:
    assert editor_client.get("/logout/").status_code == 405
    assert editor_client.post("/logout/").status_code == 302
    assert editor_client.get("/").status_code == 302


def test_password_change_page_renders(editor_client: Client) -> None:
    page = editor_client.get("/password/")
    assert page.status_code == 200
    assert 'for="id_old_password"' in page.content.decode()


# --- pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("url", ["/", "/providers/", "/history/"])
def test_pages_are_read_only_for_a_viewer(url: str, viewer_client: Client) -> None:
    html = viewer_client.get(url).content.decode()
    assert "Read-only." in html
    # Nothing that changes anything: no edit links, no forms posting to our endpoints.
    for marker in ("hx-post", "?edit=", "Revert", "Test connection", "Try it", "Add a custom"):
        assert marker not in html, marker
    assert html.count('method="post"') == 1  # the sign-out form only


def test_tasks_page_shows_chain_badges_sources_and_warnings(
    editor_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    services.update_task_config(
        task="text",
        provider="anthropic",
        model="claude-3-haiku-20240307",
        fallbacks=[("openai", "my-finetune")],
    )
    html = editor_client.get("/").content.decode()
    card = html[html.index('id="task-text"') : html.index('id="task-video-slides"')]
    assert "Anthropic" in card
    assert "claude-3-haiku-20240307" in card
    assert "Fallback 1" in card
    assert "my-finetune" in card
    assert "capabilities unknown" in card  # the unlisted fallback model
    assert "edited" in card
    assert "Provider not initialized" in card  # ANTHROPIC_API_KEY is not set
    assert "ANTHROPIC_API_KEY" in card
    # The image task still has its seeded, default values.
    image = html[html.index('id="task-image"') : html.index('id="task-text"')]
    assert "dall-e-3" in image
    assert "default" in image


def test_provider_default_model_is_labelled(editor_client: Client) -> None:
    services.update_task_config(task="text", provider="anthropic", model="")
    html = editor_client.get("/").content.decode()
    card = html[html.index('id="task-text"') : html.index('id="task-video-slides"')]
    assert "claude-3-5-sonnet-20241022" in card
    assert "provider's default model" in card


def test_editor_sees_edit_controls_and_no_read_only_note(editor_client: Client) -> None:
    html = editor_client.get("/").content.decode()
    assert "Read-only." not in html
    assert 'hx-get="/tasks/text/card/?edit=1"' in html
    assert "Try it" in html
    assert "Add a custom task" in html


def test_edit_link_opens_the_editor_with_and_without_htmx(editor_client: Client) -> None:
    partial = editor_client.get("/tasks/text/card/?edit=1", headers=HX)
    html = partial.content.decode()
    assert html.lstrip().startswith("<article")
    assert '<select name="text-provider"' in html
    assert 'list="id_text-model-options"' in html
    # Without JavaScript the same link is a page with that card's editor open.
    redirect = editor_client.get("/tasks/text/card/?edit=1")
    assert redirect["Location"] == "/?edit=text#task-text"
    page = editor_client.get("/?edit=text").content.decode()
    assert '<select name="text-provider"' in page
    assert '<select name="image-provider"' not in page


def test_every_input_has_a_label(editor_client: Client) -> None:
    pages = [
        editor_client.get("/?edit=text").content.decode(),
        editor_client.get("/providers/?edit=openai").content.decode(),
        editor_client.get("/history/").content.decode(),
    ]
    for html in pages:
        ids = re.findall(
            r'<(?:input|select|textarea)(?![^>]*type="(?:hidden|submit)")[^>]*id="([^"]+)"', html
        )
        assert ids
        for element_id in ids:
            assert f'for="{element_id}"' in html, element_id


def test_page_has_landmarks_skip_link_and_live_region(editor_client: Client) -> None:
    html = editor_client.get("/").content.decode()
    assert '<a class="skip-link" href="#main">' in html
    assert '<main id="main"' in html
    assert '<nav class="mainnav" aria-label="Main">' in html
    assert 'aria-live="polite"' in html
    assert '<a href="/" aria-current="page">Tasks</a>' in html


# --- editing a task --------------------------------------------------------------------


def test_htmx_save_swaps_the_card_records_the_change_and_toasts(
    editor_client: Client, editor: Any
) -> None:
    response = editor_client.post(
        "/tasks/text/edit/",
        task_form(
            "text",
            provider="anthropic",
            model="claude-3-haiku-20240307",
            fallbacks=(("openai", "gpt-4o-mini"),),
            timeout="45",
            retries="2",
        ),
        headers=HX,
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith('<article class="card task-card')
    assert "is-editing" not in html
    assert "claude-3-haiku-20240307" in html
    toast = json.loads(response["HX-Trigger"])["toast"]
    assert toast == {
        "message": "Saved — next call uses anthropic/claude-3-haiku-20240307, "
        "then openai/gpt-4o-mini.",
        "level": "success",
    }
    assert chain("text") == ["anthropic/claude-3-haiku-20240307", "openai/gpt-4o-mini"]
    config = selectors.get_task_config(task="text")
    assert (config.timeout_seconds, config.max_retries) == (45.0, 2)
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    assert (change.channel, change.user, change.target_name) == (Channel.UI, editor, "text")


def test_plain_post_save_redirects_with_a_message(editor_client: Client) -> None:
    response = editor_client.post(
        "/tasks/text/edit/", task_form("text", provider="anthropic", model="")
    )
    assert response.status_code == 302
    assert response["Location"] == "/#task-text"
    assert chain("text") == ["anthropic/claude-3-5-sonnet-20241022"]
    page = editor_client.get("/").content.decode()
    assert "Saved — next call uses anthropic/claude-3-5-sonnet-20241022." in page


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_anthropic_for_image_shows_the_error_next_to_provider_and_saves_nothing(
    editor_client: Client, htmx: bool
) -> None:
    before = fingerprint()
    response = editor_client.post(
        "/tasks/image/edit/",
        task_form("image", provider="anthropic"),
        headers=HX if htmx else {},
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "Anthropic does not generate images" in field_errors(html, "id_image-provider")
    assert 'aria-invalid="true"' in html
    assert fingerprint() == before
    assert chain("image") == ["openai/dall-e-3"]
    if htmx:
        assert "Not saved" in json.loads(response["HX-Trigger"])["toast"]["message"]
    else:
        assert "<html" in html


def test_fallback_problems_appear_next_to_the_fallback_fields(editor_client: Client) -> None:
    before = fingerprint()
    response = editor_client.post(
        "/tasks/text/edit/",
        task_form(
            "text",
            provider="openai",
            model="gpt-4.1",
            fallbacks=(("openai", "gpt-4.1"), ("nosuch", "x")),
        ),
        headers=HX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "same as the primary" in field_errors(html, "id_text-fb-0-model")
    assert "unknown provider" in field_errors(html, "id_text-fb-1-provider")
    # A row left without a provider is caught by the form, before the rules run.
    blank = editor_client.post(
        "/tasks/text/edit/",
        task_form("text", provider="openai", fallbacks=(("", ""),)),
        headers=HX,
    )
    assert blank.status_code == 422
    assert "Choose a provider, or remove this fallback." in field_errors(
        blank.content.decode(), "id_text-fb-0-provider"
    )
    assert fingerprint() == before


def test_timeout_out_of_range_is_shown_next_to_timeout(editor_client: Client) -> None:
    response = editor_client.post(
        "/tasks/text/edit/", task_form("text", provider="openai", timeout="9999"), headers=HX
    )
    assert response.status_code == 422
    assert "out of range" in field_errors(response.content.decode(), "id_text-timeout_seconds")


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_row_buttons_rearrange_fallbacks_without_saving(editor_client: Client, htmx: bool) -> None:
    before = fingerprint()
    rows = (("anthropic", "claude-3-haiku-20240307"), ("openai", "gpt-4o-mini"))
    headers = HX if htmx else {}

    def post(action: str, fallbacks: tuple[tuple[str, str], ...] = rows) -> str:
        response = editor_client.post(
            "/tasks/text/edit/",
            task_form("text", provider="openai", fallbacks=fallbacks, action=action),
            headers=headers,
        )
        assert response.status_code == 200
        return response.content.decode()

    def values(html: str) -> list[str]:
        return re.findall(r'name="text-fb-\d+-model"[^>]*value="([^"]*)"', html)

    assert values(post("up:1")) == ["gpt-4o-mini", "claude-3-haiku-20240307"]
    assert values(post("down:0")) == ["gpt-4o-mini", "claude-3-haiku-20240307"]
    assert values(post("remove:0")) == ["gpt-4o-mini"]
    added = post("add_fallback")
    assert 'name="text-fb-2-provider"' in added
    assert "Choose a provider" in added
    assert "errorlist" not in added  # a fresh row is not an error yet
    assert fingerprint() == before


def test_cancel_returns_the_stored_card(editor_client: Client) -> None:
    html = editor_client.get("/tasks/text/card/", headers=HX).content.decode()
    assert "is-editing" not in html
    assert "gpt-4.1" in html
    assert editor_client.get("/tasks/nosuch/card/", headers=HX).status_code == 404


def test_model_options_lists_the_providers_models_for_the_output_kind(
    editor_client: Client,
) -> None:
    def options(provider: str, kind: str) -> list[str]:
        response = editor_client.get(
            "/model-options/",
            {"field": "x-provider", "x-provider": provider, "kind": kind, "list": "x-list"},
            headers=HX,
        )
        assert response.status_code == 200
        html = response.content.decode()
        assert html.startswith('<datalist id="x-list"')
        return re.findall(r'<option value="([^"]+)"', html)

    # The listed models first; the price data's known ones follow (tests/test_model_lists.py).
    assert options("anthropic", "text")[:4] == [
        "claude-3-5-sonnet-20241022",
        "claude-3-haiku-20240307",
        "claude-3-opus-20250219",
        "claude-3-sonnet-20240229",
    ]
    assert options("anthropic", "image") == []
    assert options("openai", "image")[:3] == ["dall-e-2", "dall-e-3", "gpt-image-1"]
    assert "gpt-4o" not in options("openai", "image")
    assert "gpt-3.5-turbo" not in options("openai", "structured")
    assert options("nosuch", "text") == []
    bad = editor_client.get("/model-options/", {"list": '"><script>'})
    assert bad.status_code == 400


def test_typed_model_names_outside_the_list_are_accepted(editor_client: Client) -> None:
    response = editor_client.post(
        "/tasks/text/edit/",
        task_form("text", provider="openai", model="ft:gpt-4o-mini:acme::abc123"),
        headers=HX,
    )
    assert response.status_code == 200
    assert chain("text") == ["openai/ft:gpt-4o-mini:acme::abc123"]
    assert "capabilities unknown" in response.content.decode()


def test_unknown_provider_from_env_stays_selectable_and_is_reported(
    editor_client: Client,
) -> None:
    from aiconfig.models import TaskAssignment

    TaskAssignment.objects.filter(task__name="text").update(provider="opena1")
    selectors.clear_config_cache()
    html = editor_client.get("/tasks/text/card/?edit=1", headers=HX).content.decode()
    assert '<option value="opena1" selected>opena1 (unknown provider)</option>' in html
    response = editor_client.post(
        "/tasks/text/edit/", task_form("text", provider="opena1", model="gpt-4.1"), headers=HX
    )
    assert response.status_code == 422
    assert "unknown provider" in field_errors(response.content.decode(), "id_text-provider")


# --- adding a task ---------------------------------------------------------------------


def test_add_task_with_htmx_inserts_the_card(editor_client: Client, editor: Any) -> None:
    response = editor_client.post(
        "/tasks/add/",
        {
            "new-task-name": "summaries",
            "new-task-output_kind": "text",
            "new-task-provider": "anthropic",
            "new-task-model": "",
            "new-task-description": "Weekly digest",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#tasks-body"
    html = response.content.decode()
    assert 'id="task-summaries"' in html
    assert "Weekly digest" in html
    assert chain("summaries") == ["anthropic/claude-3-5-sonnet-20241022"]
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    assert (change.channel, change.user, change.action) == (Channel.UI, editor, "create")


def test_add_task_errors_are_inline_and_nothing_is_saved(editor_client: Client) -> None:
    before = fingerprint()
    bad_name = editor_client.post(
        "/tasks/add/",
        {
            "new-task-name": "Bad Name!",
            "new-task-output_kind": "text",
            "new-task-provider": "openai",
        },
        headers=HX,
    )
    assert bad_name.status_code == 422
    assert "not a valid task name" in field_errors(bad_name.content.decode(), "id_new-task-name")
    image_on_anthropic = editor_client.post(
        "/tasks/add/",
        {
            "new-task-name": "thumbnails",
            "new-task-output_kind": "image",
            "new-task-provider": "anthropic",
        },
    )
    assert image_on_anthropic.status_code == 422
    html = image_on_anthropic.content.decode()
    assert "Anthropic does not generate images" in field_errors(html, "id_new-task-provider")
    assert fingerprint() == before


# --- Try it ----------------------------------------------------------------------------


def test_try_it_shows_output_route_latency_tokens_and_cost(
    editor_client: Client, fake_ai: FakeProvider
) -> None:
    response = editor_client.post(
        "/tasks/text/try/", {"try-text-prompt": "Write a tagline"}, headers=HX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Hello from gpt-4.1: Write a tagline" in html
    assert "Answered by <strong>openai/gpt-4.1</strong>" in html
    assert "fallback used" not in html
    assert re.search(r"Latency</span> \d+ ms", html)
    assert "in · " in html  # tokens
    assert "$" in html  # gpt-4.1 has a price
    row = CallLog.objects.get()
    assert (row.source, row.user.username) == (Channel.PLAYGROUND, "editor")


def test_try_it_shows_the_fallback_when_the_primary_fails(
    editor_client: Client, fake_ai: FakeProvider
) -> None:
    services.update_task_config(
        task="text",
        provider="openai",
        model="fail-500",
        fallbacks=[("anthropic", "claude-3-haiku-20240307")],
    )
    html = editor_client.post(
        "/tasks/text/try/", {"try-text-prompt": "hi"}, headers=HX
    ).content.decode()
    assert "Answered by <strong>anthropic/claude-3-haiku-20240307</strong>" in html
    assert "fallback used" in html
    assert "openai/fail-500" in html  # the failed attempt is listed


def test_try_it_failure_lists_every_attempt(editor_client: Client, fake_ai: FakeProvider) -> None:
    services.update_task_config(
        task="text", provider="openai", model="fail-500", fallbacks=[("openai", "missing-x")]
    )
    html = editor_client.post(
        "/tasks/text/try/", {"try-text-prompt": "hi"}, headers=HX
    ).content.decode()
    assert "Failed." in html
    assert "all 2 attempts failed" in html
    assert "openai/fail-500" in html
    assert "openai/missing-x" in html
    assert OPENAI_KEY not in html


def test_try_it_shows_images_inline(editor_client: Client, fake_ai: FakeProvider) -> None:
    services.update_task_config(task="image", provider="openai", model="gpt-image-1")
    html = editor_client.post(
        "/tasks/image/try/", {"try-image-prompt": "a lighthouse"}, headers=HX
    ).content.decode()
    assert '<img src="data:image/png;base64,' in html


def test_try_it_shows_slides_as_a_list(editor_client: Client, fake_ai: FakeProvider) -> None:
    html = editor_client.post(
        "/tasks/video-slides/try/", {"try-video-slides-prompt": "composting"}, headers=HX
    ).content.decode()
    assert '<ol class="slides">' in html
    assert "Image prompt" in html


def test_try_it_without_javascript_renders_the_page_with_the_result(
    editor_client: Client, fake_ai: FakeProvider
) -> None:
    response = editor_client.post("/tasks/text/try/", {"try-text-prompt": "hello"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert "Hello from gpt-4.1: hello" in html


def test_try_it_needs_a_prompt(editor_client: Client, fake_ai: FakeProvider) -> None:
    response = editor_client.post("/tasks/text/try/", {"try-text-prompt": ""}, headers=HX)
    assert response.status_code == 422
    assert "Type a prompt to try." in response.content.decode()
    assert fake_ai.requests == []


def test_run_permission_alone_allows_try_it_but_not_edits(
    django_user_model: Any, fake_ai: FakeProvider
) -> None:
    runner = django_user_model.objects.create_user(username="runner", password="x")
    runner.user_permissions.add(Permission.objects.get(codename="run_task"))
    client = client_for(runner)
    html = client.get("/").content.decode()
    assert "Try it" in html
    assert "Read-only." in html
    assert client.post("/tasks/text/try/", {"try-text-prompt": "hi"}, headers=HX).status_code == 200
    assert (
        client.post("/tasks/text/edit/", task_form("text", provider="anthropic")).status_code == 403
    )


# --- providers -------------------------------------------------------------------------


def test_providers_page_shows_kind_url_key_status_and_models(
    viewer_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-PAGESECRET-1234567890-WXYZ")
    html = viewer_client.get("/providers/").content.decode()
    openai = html[html.index('id="provider-openai"') :]
    openai = openai[: openai.index("</article>")]
    assert "https://api.openai.com/v1" in openai
    assert "set …WXYZ" in openai
    assert "OPENAI_API_KEY" in openai
    assert "dall-e-3" in openai
    assert "Enabled" in openai
    anthropic = html[html.index('id="provider-anthropic"') :]
    anthropic = anthropic[: anthropic.index("</article>")]
    assert "missing" in anthropic
    assert "ANTHROPIC_API_KEY" in anthropic


def test_enabled_switch_toggles_with_and_without_htmx(editor_client: Client) -> None:
    response = editor_client.post("/providers/ollama/enabled/", {"enabled": "false"}, headers=HX)
    assert response.status_code == 200
    assert 'aria-checked="false"' in response.content.decode()
    assert "disabled" in json.loads(response["HX-Trigger"])["toast"]["message"]
    assert Provider.objects.get(name="ollama").enabled is False
    plain = editor_client.post("/providers/ollama/enabled/", {"enabled": "true"})
    assert plain["Location"] == "/providers/#provider-ollama"
    assert Provider.objects.get(name="ollama").enabled is True
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    assert change.channel == Channel.UI


def test_provider_settings_are_validated_inline(endpoint_admin_client: Client) -> None:
    before = fingerprint()
    pasted_key = "sk-proj-PASTEDKEY-0000000000000000-ZZZZ"
    response = endpoint_admin_client.post(
        "/providers/openai/edit/",
        {
            "edit-openai-label": "OpenAI",
            "edit-openai-base_url": "not a url",
            "edit-openai-api_key_env": pasted_key,
            "edit-openai-default_text_model": "gpt-4.1",
        },
        headers=HX,
    )
    assert response.status_code == 422
    html = response.content.decode()
    assert "absolute http(s) URL" in field_errors(html, "id_edit-openai-base_url")
    assert "never the key itself" in field_errors(html, "id_edit-openai-api_key_env")
    assert "PASTEDKEY" not in html  # a pasted key is never echoed back
    assert fingerprint() == before


def test_provider_settings_save(endpoint_admin_client: Client) -> None:
    response = endpoint_admin_client.post(
        "/providers/ollama/edit/",
        {
            "edit-ollama-label": "Ollama (GPU box)",
            "edit-ollama-base_url": "http://gpu-box:11434/v1",
            "edit-ollama-api_key_env": "",
            "edit-ollama-default_text_model": "mistral",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert "Ollama (GPU box)" in response.content.decode()
    row = Provider.objects.get(name="ollama")
    assert (row.label, row.base_url) == ("Ollama (GPU box)", "http://gpu-box:11434/v1")


def test_add_model_lists_it_with_capabilities(editor_client: Client) -> None:
    response = editor_client.post(
        "/providers/ollama/models/",
        {
            "model-ollama-name": "qwen2.5",
            "model-ollama-supports_text": "on",
            "model-ollama-supports_tools": "on",
            "model-ollama-notes": "Good at tools",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert "qwen2.5" in response.content.decode()
    model = ProviderModel.objects.get(provider__name="ollama", name="qwen2.5")
    assert (model.supports_text, model.supports_tools, model.supports_image) == (True, True, False)
    blank = editor_client.post("/providers/ollama/models/", {"model-ollama-name": ""}, headers=HX)
    assert blank.status_code == 422


def test_add_custom_provider(editor_client: Client) -> None:
    response = editor_client.post(
        "/providers/add/",
        {
            "new-provider-name": "my-vllm",
            "new-provider-label": "My vLLM",
            "new-provider-base_url": "http://10.0.0.5:8000/v1",
            "new-provider-api_key_env": "",
            "new-provider-self_hosted": "on",
            "new-provider-default_text_model": "qwen2.5-7b",
        },
        headers=HX,
    )
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#providers-body"
    assert 'id="provider-my-vllm"' in response.content.decode()
    row = Provider.objects.get(name="my-vllm")
    assert (row.kind, row.self_hosted, row.key_required) == ("openai_compatible", True, False)
    duplicate = editor_client.post(
        "/providers/add/",
        {"new-provider-name": "my-vllm", "new-provider-base_url": "http://10.0.0.5:8000/v1"},
        headers=HX,
    )
    assert duplicate.status_code == 422
    assert "already exists" in field_errors(duplicate.content.decode(), "id_new-provider-name")


def test_test_connection_reports_success_and_failure(
    editor_client: Client, fake_ai: FakeProvider
) -> None:
    ok = editor_client.post("/providers/openai/test/", headers=HX).content.decode()
    assert "Connected" in ok
    assert re.search(r"Latency</span> \d+ ms", ok)
    assert "gpt-4o-mini" in ok
    services.update_provider(name="anthropic", base_url=closed_port_url())
    failed = editor_client.post("/providers/anthropic/test/", headers=HX).content.decode()
    assert "Connection failed." in failed
    assert ANTHROPIC_KEY not in failed


# --- history ---------------------------------------------------------------------------


def test_history_lists_changes_newest_first_with_who_and_before_after(
    editor_client: Client,
) -> None:
    editor_client.post(
        "/tasks/text/edit/", task_form("text", provider="anthropic", model=""), headers=HX
    )
    html = editor_client.get("/history/").content.decode()
    first = html.index('class="change"')
    assert html.index("primary openai/gpt-4.1 → anthropic/claude-3-5-sonnet-20241022") > first
    newest = html[first : html.index("</li>", first)]
    assert "editor" in newest
    assert "Dashboard" in newest
    assert "&quot;provider&quot;: &quot;anthropic&quot;" in newest  # the after JSON
    assert "Environment" in html  # seeded rows


def test_history_filters(editor_client: Client) -> None:
    services.update_provider(name="ollama", enabled=False, channel=Channel.CLI)
    html = editor_client.get("/history/", {"target": "provider", "channel": "cli"}).content.decode()
    assert html.count('class="change"') == 1
    assert "ollama" in html


def test_history_is_paginated_newest_first(editor_client: Client) -> None:
    for seconds in range(31, 61):
        services.update_task_config(task="agent", timeout_seconds=seconds, channel=Channel.CLI)
    first = editor_client.get("/history/", {"channel": "cli"}).content.decode()
    assert first.count('class="change"') == 25
    assert "timeout 59.0 → 60.0" in first
    assert "Page 1 of 2" in first
    assert 'href="?channel=cli&amp;page=2"' in first
    second = editor_client.get("/history/", {"channel": "cli", "page": "2"}).content.decode()
    assert second.count('class="change"') == 5
    assert "timeout 90.0 → 31.0" in second


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "plain"])
def test_revert_restores_and_is_recorded(editor_client: Client, editor: Any, htmx: bool) -> None:
    services.update_task_config(task="text", provider="anthropic", model="")
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    url = f"/history/{change.pk}/revert/"
    headers = HX if htmx else {}
    # The first click only asks; nothing is reverted yet.
    assert "Revert #" in editor_client.post(url, headers=headers).content.decode()
    assert chain("text") != ["openai/gpt-4.1"]
    response = editor_client.post(url, {"confirm": "1"}, headers=headers)
    assert chain("text") == ["openai/gpt-4.1"]
    revert = ConfigChange.objects.order_by("-id").first()
    assert revert is not None
    assert (revert.reverts, revert.channel, revert.user) == (change, Channel.UI, editor)
    if htmx:
        assert response.status_code == 200
        assert f"Reverted #{change.pk}" in json.loads(response["HX-Trigger"])["toast"]["message"]
        assert f'Reverts <a href="#change-{change.pk}">' in response.content.decode()
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/history/")


def test_revert_errors_are_shown_in_words(editor_client: Client) -> None:
    services.update_task_config(task="text", provider="anthropic")
    change = ConfigChange.objects.order_by("-id").first()
    assert change is not None
    services.update_task_config(task="text", provider="openai", model="gpt-4.1")
    before = fingerprint()
    # The task is already as it was before that change: the service says so.
    response = editor_client.post(f"/history/{change.pk}/revert/", {"confirm": "1"}, headers=HX)
    assert response.status_code == 200
    assert "Could not revert" in json.loads(response["HX-Trigger"])["toast"]["message"]
    html = response.content.decode()
    assert "Nothing to revert" in html
    assert 'role="alert"' in html
    assert fingerprint() == before


def test_creating_a_built_in_has_no_revert_button(editor_client: Client) -> None:
    html = editor_client.get("/history/").content.decode()
    created = ConfigChange.objects.get(target_type="provider", target_name="openai")
    assert f'id="change-{created.pk}"' in html
    assert f'action="/history/{created.pk}/revert/"' not in html


def test_revert_needs_the_permission_for_what_it_changes(django_user_model: Any) -> None:
    task_editor = django_user_model.objects.create_user(username="tasks-only", password="x")
    task_editor.user_permissions.add(Permission.objects.get(codename="change_taskassignment"))
    services.update_provider(name="ollama", enabled=False)
    provider_change = ConfigChange.objects.order_by("-id").first()
    services.update_task_config(task="text", provider="anthropic")
    task_change = ConfigChange.objects.order_by("-id").first()
    assert provider_change is not None
    assert task_change is not None
    client = client_for(task_editor)
    html = client.get("/history/").content.decode()
    assert f'action="/history/{task_change.pk}/revert/"' in html
    assert f'action="/history/{provider_change.pk}/revert/"' not in html
    assert (
        client.post(f"/history/{provider_change.pk}/revert/", {"confirm": "1"}).status_code == 403
    )
    assert Provider.objects.get(name="ollama").enabled is False
    assert client.post(f"/history/{task_change.pk}/revert/", {"confirm": "1"}).status_code == 302
    assert chain("text") == ["openai/gpt-4.1"]


# --- secrets, CSP, static files ----------------------------------------------------------


def test_no_key_value_in_any_page(
    editor_client: Client, monkeypatch: pytest.MonkeyPatch, fake_ai: FakeProvider
) -> None:
    secret = "sk-proj-PAGESECRET-0123456789abcdef-WXYZ"
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    services.update_task_config(task="text", provider="openai", model="fail-500")
    responses = [
        editor_client.get("/"),
        editor_client.get("/?edit=text"),
        editor_client.get("/providers/"),
        editor_client.get("/providers/?edit=openai"),
        editor_client.get("/history/"),
        editor_client.get("/tasks/text/card/?edit=1", headers=HX),
        editor_client.post("/providers/openai/test/", headers=HX),
        editor_client.post("/tasks/text/try/", {"try-text-prompt": "x"}, headers=HX),
    ]
    for response in responses:
        html = response.content.decode()
        assert "PAGESECRET" not in html
        assert secret[-8:-4] not in html  # not even the part before the last four
    providers_page = responses[2].content.decode()
    assert "…WXYZ" in providers_page


def test_csp_header_has_a_nonce_used_by_every_script(editor_client: Client) -> None:
    response = editor_client.get("/")
    csp = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", csp)
    assert nonce
    assert "style-src 'self'" in csp
    html = response.content.decode()
    scripts = re.findall(r"<script[^>]*>", html)
    assert scripts
    assert all(f'nonce="{nonce.group(1)}"' in tag for tag in scripts)
    # What a strict CSP would block: none of it may be in our pages.
    for forbidden in ("<style", 'style="', "onclick=", "hx-on", "js:", "javascript:"):
        assert forbidden not in html, forbidden
    assert '"allowEval": false' in html
    assert '"includeIndicatorStyles": false' in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html


def test_htmx_and_our_assets_are_served_by_us(editor_client: Client) -> None:
    html = editor_client.get("/").content.decode()
    assert 'src="/static/django_htmx/htmx-2.min.js"' in html
    assert "https://" not in re.sub(r"<(?:a|p|code)[^>]*>[^<]*", "", html.split("<body")[0])
    for path in (
        "/static/django_htmx/htmx-2.min.js",
        "/static/css/base.css",
        "/static/css/components.css",
        "/static/css/tasks.css",
        "/static/js/app.js",
    ):
        response = Client().get(path)
        assert response.status_code == 200, path
        body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
        assert len(body) > 100
        response.close()


# --- roles -------------------------------------------------------------------------------


def test_role_groups_exist_and_grant_what_they_say(django_user_model: Any) -> None:
    editors = Group.objects.get(name="AI config editors")
    viewers = Group.objects.get(name="AI config viewers")
    editor_perms = set(editors.permissions.values_list("codename", flat=True))
    assert {"change_taskassignment", "change_provider", "run_task", "add_tasktype"} <= editor_perms
    assert set(viewers.permissions.values_list("codename", flat=True)) == {
        f"view_{m}"
        for m in (
            "provider",
            "providermodel",
            "tasktype",
            "taskassignment",
            "taskfallback",
            "configchange",
            "calllog",
            "modelprice",
            "playgroundrun",  # saved playground runs (0006)
            "budget",  # budgets and alert rules (0010)
            "alertrule",
        )
    }
    member = django_user_model.objects.create_user(username="member", password="x")
    member.groups.add(editors)
    client = client_for(member)
    assert "Read-only." not in client.get("/").content.decode()
    response = client.post("/tasks/text/edit/", task_form("text", provider="anthropic"), headers=HX)
    assert response.status_code == 200
