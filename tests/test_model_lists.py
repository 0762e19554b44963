"""Model lists that are current: "Refresh models" on the Providers page, and the pickers.

The providers' own lists come from the local fake server (tests/fake_provider.py):
its Anthropic endpoint offers claude-sonnet-4-5 and claude-haiku-4-5, which the
built-in list does not have; its OpenAI one offers models the list has already.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from aiconfig import selectors, services
from aiconfig.models import Channel, ConfigChange, ProviderModel
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
OPENAI_KEY = "sk-proj-REFRESH-000000000000000-OA77"
ANTHROPIC_KEY = "sk-ant-REFRESH-0000000000000000-AN77"


@pytest.fixture
def fake_ai(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server, keys set."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def refresh(client: Client, provider: str, **extra: str) -> tuple[int, str]:
    response = client.post(f"/providers/{provider}/models/refresh/", extra, headers=HX)
    return response.status_code, response.content.decode()


def add_form(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The "Add selected" form as the page posts it: one row per missing model."""
    data: dict[str, Any] = {"rows": str(len(rows)), "add": []}
    for index, row in enumerate(rows):
        data[f"m-{index}-name"] = row["name"]
        for capability in ("text", "image", "structured", "tools"):
            if row.get(capability):
                data[f"m-{index}-{capability}"] = "on"
        if row.get("add"):
            data["add"].append(str(index))
    return data


# --- refresh ---------------------------------------------------------------------------


def test_refresh_lists_the_missing_models_with_guessed_capabilities(
    editor: Any, fake_ai: FakeProvider
) -> None:
    status, html = refresh(signed_in(editor), "anthropic")
    assert status == 200
    assert "Anthropic offers 2 models; 2 are not listed here." in html
    for name in ("claude-sonnet-4-5", "claude-haiku-4-5"):
        assert f'value="{name}"' in html
    # Guessed from the bundled price data, and editable: ticked checkboxes, not text.
    row = html[html.index('value="claude-sonnet-4-5"') :].split("</li>")[0]
    for capability in ("text", "structured", "tools"):
        assert re.search(rf'name="m-\d+-{capability}" checked', row)
    assert not re.search(r'name="m-\d+-image" checked', row)
    assert "$3 in / $15 out per 1M tokens" in row
    assert "guessed from the price data" in row
    assert ">Add selected<" in html
    # The provider's own list was read, with the stored key, at the stored address.
    (listing,) = [r for r in fake_ai.requests if r.path == "/v1/models"]
    sent = listing.headers.get("x-api-key", "") + listing.headers.get("authorization", "")
    assert ANTHROPIC_KEY in sent
    assert ANTHROPIC_KEY not in html


def test_a_provider_whose_list_we_have_says_so(editor: Any, fake_ai: FakeProvider) -> None:
    status, html = refresh(signed_in(editor), "openai")
    assert status == 200
    assert "All 4 models OpenAI offers are listed here." in html
    assert "Add selected" not in html


def test_a_model_unknown_to_the_price_data_is_guessed_from_its_name(
    editor: Any, fake_ai: FakeProvider
) -> None:
    services.update_provider(name="ollama", base_url=fake_ai.openai_base_url)
    _, html = refresh(signed_in(editor), "ollama")
    row = html[html.index('value="dall-e-3"') :].split("</li>")[0]
    assert re.search(r'name="m-\d+-image" checked', row)
    assert not re.search(r'name="m-\d+-text" checked', row)
    assert "guessed from the name" in row


def test_adding_selected_models_goes_through_the_service_with_history(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    rows = [
        # The guess said text/structured/tools; the editor also ticks image.
        {"name": "claude-sonnet-4-5", "add": True, "text": True, "image": True, "tools": True},
        {"name": "claude-haiku-4-5", "add": False, "text": True},
    ]
    response = client.post("/providers/anthropic/models/add-selected/", add_form(rows), headers=HX)
    assert response.status_code == 200
    assert response["HX-Retarget"] == "#provider-anthropic"  # the card, its list changed
    assert "Listed 1 model under Anthropic: claude-sonnet-4-5." in response["HX-Trigger"]
    model = ProviderModel.objects.get(provider__name="anthropic", name="claude-sonnet-4-5")
    assert (model.supports_text, model.supports_image, model.supports_structured) == (
        True,
        True,
        False,
    )
    assert model.supports_tools
    assert not ProviderModel.objects.filter(name="claude-haiku-4-5").exists()
    change = ConfigChange.objects.get(target_name="anthropic/claude-sonnet-4-5")
    assert (change.channel, change.user) == (Channel.UI, editor)
    assert "claude-sonnet-4-5" in selectors.config_snapshot().providers["anthropic"].models


def test_adding_nothing_or_a_bad_name_keeps_the_list_as_ticked(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    rows = [{"name": "claude-sonnet-4-5", "text": True, "tools": True}]
    response = client.post("/providers/anthropic/models/add-selected/", add_form(rows), headers=HX)
    assert response.status_code == 422
    html = response.content.decode()
    assert "Nothing added: Select at least one model to add." in html
    assert re.search(r'name="m-0-tools" checked', html)  # the edits survive

    rows = [{"name": "claude-sonnet-4-5", "add": True, "text": True}, {"name": "bad name"}]
    rows[1]["add"] = True
    response = client.post("/providers/anthropic/models/add-selected/", add_form(rows), headers=HX)
    assert response.status_code == 422
    assert "Nothing added:" in response.content.decode()
    assert not ProviderModel.objects.filter(name="claude-sonnet-4-5").exists()  # all or none


def test_without_javascript_refresh_shows_the_page_and_add_redirects(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    page = client.post("/providers/anthropic/models/refresh/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<h1>Providers</h1>" in html
    assert 'value="claude-haiku-4-5"' in html
    rows = [{"name": "claude-haiku-4-5", "add": True, "text": True}]
    done = client.post("/providers/anthropic/models/add-selected/", add_form(rows))
    assert done.status_code == 302
    assert done["Location"] == "/providers/#provider-anthropic"
    assert ProviderModel.objects.filter(name="claude-haiku-4-5").exists()


# --- attacks and failures ------------------------------------------------------------------


def test_a_viewer_can_neither_refresh_nor_add(viewer: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(viewer)
    assert "Refresh models" not in client.get("/providers/").content.decode()
    assert refresh(client, "anthropic")[0] == 403
    rows = [{"name": "claude-sonnet-4-5", "add": True, "text": True}]
    added = client.post("/providers/anthropic/models/add-selected/", add_form(rows), headers=HX)
    assert added.status_code == 403
    assert fake_ai.requests == []
    assert not ProviderModel.objects.filter(name="claude-sonnet-4-5").exists()


def test_an_editor_cannot_make_the_key_go_elsewhere(editor: Any, fake_ai: FakeProvider) -> None:
    with FakeProvider() as elsewhere:
        status, html = refresh(
            signed_in(editor),
            "anthropic",
            base_url=elsewhere.anthropic_base_url,
            api_base=elsewhere.anthropic_base_url,
            url=elsewhere.anthropic_base_url,
        )
        assert elsewhere.requests == []
    assert status == 200
    assert [r.path for r in fake_ai.requests] == ["/v1/models"]  # the stored address only
    assert ANTHROPIC_KEY not in html


def test_an_unreachable_provider_is_said_in_words_without_the_key(
    editor: Any, fake_ai: FakeProvider
) -> None:
    services.update_provider(name="openai", base_url="http://127.0.0.1:9/v1")
    status, html = refresh(signed_in(editor), "openai")
    assert status == 200
    assert "Could not read the model list." in html
    assert re.search(r"connect|reach|refused", html, re.IGNORECASE)
    assert OPENAI_KEY not in html
    assert "Add selected" not in html


def test_a_provider_without_its_key_is_said_in_words(
    editor: Any, fake_ai: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY")
    _, html = refresh(signed_in(editor), "anthropic")
    assert "Could not read the model list." in html
    assert "ANTHROPIC_API_KEY" in html  # which variable to set
    assert fake_ai.requests == []


# --- the command line -----------------------------------------------------------------------


def test_the_cli_lists_the_missing_models_and_adds_them(fake_ai: FakeProvider) -> None:
    out = io.StringIO()
    call_command("ai_config", "models", "refresh", "anthropic", stdout=out)
    text = out.getvalue()
    assert "Anthropic offers 2 models; 2 are not listed here." in text
    assert re.search(r"claude-sonnet-4-5\s+text, structured, tools\s+\$3 in / \$15 out", text)
    assert not ProviderModel.objects.filter(name="claude-sonnet-4-5").exists()

    out = io.StringIO()
    call_command("ai_config", "models", "refresh", "anthropic", "--add", stdout=out)
    assert "Listed 2 models under anthropic." in out.getvalue()
    change = ConfigChange.objects.get(target_name="anthropic/claude-haiku-4-5")
    assert change.channel == Channel.CLI


# --- the pickers ---------------------------------------------------------------------------


def test_the_task_pickers_list_known_models_with_prices_after_the_listed_ones(
    editor: Any,
) -> None:
    response = signed_in(editor).get(
        "/model-options/",
        {"field": "p", "p": "openai", "kind": "text", "list": "x-list"},
        headers=HX,
    )
    options = re.findall(r'<option value="([^"]+)">([^<]*)</option>', response.content.decode())
    names = [name for name, _ in options]
    listed = sorted(selectors.config_snapshot().providers["openai"].models_for("text"), key=str)
    assert names[: len(listed)] == [m.name for m in listed]
    notes = dict(options)
    assert notes["gpt-5"] == "$1.25 in / $10 out per 1M tokens · genai-prices"
    assert "text-embedding-3-small" not in notes  # nothing a text task can use
    assert "dall-e-2" not in notes


def test_the_playground_picker_lists_known_models_with_prices(editor: Any) -> None:
    html = signed_in(editor).get("/playground/").content.decode()
    listed = html.index('value="openai/gpt-4o-mini"')
    known = html.index('value="openai/gpt-5"')
    assert listed < known
    assert "$1.25 in / $10 out per 1M tokens" in html


def test_guesses_follow_the_price_data_and_the_names() -> None:
    from aiconfig.known_models import guess, known_models

    assert guess("openai", "gpt-4o-mini").capabilities == ("text", "structured", "tools")
    assert guess("openai", "gpt-image-1").capabilities == ("image",)
    assert guess("openai", "text-embedding-3-small").capabilities == ()  # no task can use it
    assert guess("openai", "gpt-3.5-turbo-instruct").capabilities == ("text",)  # legacy
    unknown = guess("", "my-local-llama")
    assert (unknown.capabilities, unknown.known, unknown.price) == (
        ("text", "structured", "tools"),
        False,
        "",
    )
    # Google prices Vertex AI's Claude models; the Gemini API does not serve them.
    assert not [g for g in known_models("google") if g.name.startswith("claude")]
    assert "gemini-2.5-pro" in {g.name for g in known_models("google")}
