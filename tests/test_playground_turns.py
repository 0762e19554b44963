"""The playground's inputs and outputs: conversations, image options and downloads, raw view.

Every provider is the local fake (tests/fake_provider.py), reached through the real SDKs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from aiconfig import services
from aiconfig.models import PlaygroundImage, PlaygroundRun
from tests.fake_provider import PNG_BYTES, FakeProvider
from tests.test_playground import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    SCHEMA,
    TOOLS,
    run_form,
    signed_in,
    sse_events,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def fake_ai(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server, keys set (as in test_playground)."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


def _bodies(fake: FakeProvider, model: str) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.body and r.body.get("model") == model]


def _first_run(client: Client) -> PlaygroundRun:
    form = run_form(("", "openai/gpt-4o-mini"), ("", "anthropic/claude-3-5-haiku-latest"),
                    prompt="Name a colour")  # fmt: skip
    client.post("/playground/", form)
    return PlaygroundRun.objects.get()


def _continue(client: Client, run: PlaygroundRun, follow_up: str) -> Any:
    form = run_form(("", "openai/gpt-4o-mini"), ("", "anthropic/claude-3-5-haiku-latest"),
                    prompt=run.prompt, from_run=str(run.pk), follow_up=follow_up)  # fmt: skip
    form["run"] = "continue"
    return client.post("/playground/", form)


# --- multi-turn -------------------------------------------------------------------------


def test_continue_sends_each_column_its_own_conversation_and_saves_the_turns(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    first = _first_run(client)
    mini, claude = (c["text"] for c in first.columns)
    fake_ai.reset()

    response = _continue(client, first, "And another one?")

    second = PlaygroundRun.objects.exclude(pk=first.pk).get()
    assert response["Location"] == f"/playground/runs/{second.pk}/"
    assert second.prompt == "And another one?"
    assert second.turns == [{"prompt": "Name a colour", "answers": [mini, claude]}]
    # Each column hears the user's turns and its own answers, never the other column's.
    (sent_openai,) = _bodies(fake_ai, "gpt-4o-mini")
    assert sent_openai["messages"] == [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": mini},
        {"role": "user", "content": "And another one?"},
    ]
    (sent_anthropic,) = _bodies(fake_ai, "claude-3-5-haiku-latest")
    assert [m["content"] for m in sent_anthropic["messages"]] == [
        "Name a colour",
        claude,
        "And another one?",
    ]
    assert second.columns[0]["text"] == "Hello from gpt-4o-mini: And another one?"

    page = client.get(response["Location"]).content.decode()
    assert "Conversation so far" in page
    assert "Name a colour" in page
    assert mini in page
    assert claude in page


def test_a_third_turn_carries_the_whole_conversation(editor: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(editor)
    first = _first_run(client)
    _continue(client, first, "Second?")
    second = PlaygroundRun.objects.exclude(pk=first.pk).get()
    fake_ai.reset()
    _continue(client, second, "Third?")
    third = PlaygroundRun.objects.order_by("-pk").first()
    assert [t["prompt"] for t in third.turns] == ["Name a colour", "Second?"]
    (sent,) = _bodies(fake_ai, "gpt-4o-mini")
    assert [m["content"] for m in sent["messages"] if m["role"] == "user"] == [
        "Name a colour",
        "Second?",
        "Third?",
    ]
    export = client.get(f"/playground/runs/{third.pk}/export.json").json()
    assert [t["prompt"] for t in export["turns"]] == ["Name a colour", "Second?"]
    markdown = client.get(f"/playground/runs/{third.pk}/export.md").content.decode()
    assert markdown.index("## Turn 1") < markdown.index("## Turn 2") < markdown.index("Third?")
    assert "Hello from gpt-4o-mini: Second?" in markdown


def test_continue_without_a_follow_up_says_so_and_runs_nothing(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    first = _first_run(client)
    response = _continue(client, first, "   ")
    assert response.status_code == 422
    assert "Type a follow-up message to continue." in response.content.decode()
    assert PlaygroundRun.objects.count() == 1


def test_continue_streams_like_a_run(editor: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(editor)
    first = _first_run(client)
    form = run_form(("", "openai/gpt-4o-mini"), ("", "anthropic/claude-3-5-haiku-latest"),
                    prompt=first.prompt, from_run=str(first.pk), follow_up="More?")  # fmt: skip
    form["run"] = "continue"
    response = client.post("/playground/stream/", form)
    events = list(sse_events(response.streaming_content))
    names = [name for name, _ in events]
    assert names[0] == "run"
    assert names[-1] == "done"
    column = next(data for name, data in events if name == "column")
    assert "Conversation so far" in column["html"]
    assert PlaygroundRun.objects.get(pk=events[0][1]["id"]).turns[0]["prompt"] == "Name a colour"


def test_a_viewer_cannot_continue_someone_elses_run(
    editor: Any, viewer: Any, fake_ai: FakeProvider
) -> None:
    first = _first_run(signed_in(editor))
    response = _continue(signed_in(viewer), first, "Now for free?")
    assert response.status_code == 403
    assert PlaygroundRun.objects.count() == 1


# --- images -----------------------------------------------------------------------------


def test_image_options_reach_the_provider_and_each_image_can_be_downloaded(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(("image", ""), prompt="A lighthouse", image_size="1792x1024",
                    image_quality="hd", image_count="2")  # fmt: skip
    client.post("/playground/", form)
    run = PlaygroundRun.objects.get()
    (sent,) = [r.body for r in fake_ai.requests if r.path.endswith("/images/generations")]
    assert (sent["size"], sent["quality"], sent["n"]) == ("1792x1024", "hd", 2)
    (column,) = run.columns
    assert column["status"] == "answered"
    assert [i["position"] for i in column["images"]] == [0, 1]

    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    first = f"/playground/runs/{run.pk}/images/0/0/"
    assert f'src="{first}"' in page
    assert f'href="{first}?download=1"' in page
    assert f"/playground/runs/{run.pk}/images/0/1/?download=1" in page
    assert 'value="1792x1024" selected' in page  # the options come back with the run

    shown = client.get(first)
    assert shown["Content-Type"] == "image/png"
    assert "Content-Disposition" not in shown
    download = client.get(f"{first}?download=1")
    assert download.content == PNG_BYTES
    assert download["Content-Disposition"] == (
        f'attachment; filename="playground-run-{run.pk}-column-1-image-1.png"'
    )


def test_a_direct_image_model_column_draws_with_the_image_options(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    client.post("/playground/", run_form(("", "openai/gpt-image-1"), image_count="1",
                                         image_quality="low"))  # fmt: skip
    (column,) = PlaygroundRun.objects.get().columns
    assert column["status"] == "answered", column["error"]
    assert column["images"][0]["mime_type"] == "image/png"
    (sent,) = [r.body for r in fake_ai.requests if r.path.endswith("/images/generations")]
    assert sent["quality"] == "low"
    page = client.get(f"/playground/runs/{PlaygroundRun.objects.get().pk}/").content.decode()
    assert '<option value="image" selected>image</option>' in page  # "Use for task" suggests it


def test_bad_image_options_come_back_in_words(editor: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(editor)
    response = client.post("/playground/", run_form(("image", ""), image_count="40",
                                                    image_size="99x99"))  # fmt: skip
    assert response.status_code == 422
    html = response.content.decode()
    assert "less than or equal to 4" in html
    assert "Select a valid choice" in html
    assert not fake_ai.requests


def test_images_are_not_served_to_strangers_or_as_pages(
    client: Client, editor: Any, fake_ai: FakeProvider
) -> None:
    signed_in(editor).post("/playground/", run_form(("image", ""), prompt="A cat"))
    run = PlaygroundRun.objects.get()
    url = f"/playground/runs/{run.pk}/images/0/0/"
    # Signed out: sent to sign in, never the bytes.
    response = client.get(url)
    assert response.status_code in (302, 403)
    assert PNG_BYTES not in response.content
    # An image that claims to be SVG (it could carry script) is only ever a download.
    PlaygroundImage.objects.filter(run=run).update(mime_type="image/svg+xml")
    svg = signed_in(editor).get(url)
    assert svg["Content-Type"] == "application/octet-stream"
    assert svg["Content-Disposition"].startswith("attachment;")
    assert svg["X-Content-Type-Options"] == "nosniff"
    assert signed_in(editor).get(f"/playground/runs/{run.pk}/images/3/0/").status_code == 404


# --- raw view, structured output, tool calls ---------------------------------------------


def test_the_raw_view_shows_request_and_response_without_any_key(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(("", "openai/gpt-4o-mini"), ("", "anthropic/claude-3-5-haiku-latest"),
                    ("", "openai/fail-401"), prompt="Say hi", system="Be brief")  # fmt: skip
    client.post("/playground/", form)
    run = PlaygroundRun.objects.get()
    raw = run.columns[0]["raw"]
    assert raw["request"]["body"]["prompt"] == "Say hi"
    assert raw["request"]["body"]["system"] == "Be brief"
    assert raw["request"]["provider"] == "openai"
    assert raw["response"]["text"] == "Hello from gpt-4o-mini: Say hi"
    assert raw["response"]["usage"]["output_tokens"]
    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    assert "Raw request and response" in page
    assert "Request sent" in page
    assert "Response received" in page
    # The attack: keys set in the environment must not leak anywhere a run goes.
    export = client.get(f"/playground/runs/{run.pk}/export.json").content.decode()
    markdown = client.get(f"/playground/runs/{run.pk}/export.md").content.decode()
    saved = json.dumps(run.columns)
    for text in (page, export, markdown, saved):
        assert OPENAI_KEY not in text
        assert ANTHROPIC_KEY not in text
        assert "Authorization" not in text
        assert "x-api-key" not in text


def test_a_key_the_provider_echoes_is_removed_from_the_raw_view(
    editor: Any, fake_ai: FakeProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fake answers a key starting "sk-bad" with a 401 whose message echoes the key.
    bad = "sk-bad-PLAYGROUND-ECHOED-000000000000"
    monkeypatch.setenv("OPENAI_API_KEY", bad)
    client = signed_in(editor)
    client.post("/playground/", run_form(("", "openai/gpt-4o-mini"), prompt=f"is it {bad}?"))
    run = PlaygroundRun.objects.get()
    assert run.columns[0]["status"] == "failed"
    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    # Even the prompt's copy of it: a raw view is no way round key redaction.
    assert bad not in json.dumps(run.columns)
    assert bad not in page.replace(f"is it {bad}?", "")


def test_structured_output_is_marked_valid_and_tool_calls_shown_as_returned(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    client.post("/playground/", run_form(("", "openai/gpt-4.1"), ("", "openai/wrong-shape"),
                                         json_schema=json.dumps(SCHEMA)))  # fmt: skip
    run = PlaygroundRun.objects.get()
    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    assert page.count("Valid against the JSON schema.") == 1  # the wrong shape is not
    assert "does not match the schema" in page
    assert run.columns[0]["raw"]["response"]["data"] == json.loads(run.columns[0]["text"])

    client.post("/playground/", run_form(("", "openai/gpt-4o-mini"), prompt="Weather in Oslo?",
                                         tools=json.dumps(TOOLS)))  # fmt: skip
    tools_run = PlaygroundRun.objects.order_by("-pk").first()
    (call,) = tools_run.columns[0]["raw"]["response"]["tool_calls"]
    assert call["name"] == "get_weather"
    assert "city" in call["arguments"]


def test_credentials_are_dropped_by_name_and_keys_removed_by_value() -> None:
    from aiconfig.services.playground_results import without_keys

    key = "sk-live-0123456789abcdef"
    raw = {
        "headers": {"Authorization": f"Bearer {key}", "X-Api-Key": key, "accept": "json"},
        "api_key": key,
        "body": {"prompt": f"my key is {key}", "max_tokens": 5},
        "list": [key, {"secret": "x"}],
    }
    cleaned = without_keys(raw, [key])
    assert key not in json.dumps(cleaned)
    assert cleaned["headers"] == {"accept": "json"}
    assert "api_key" not in cleaned
    assert cleaned["body"] == {"prompt": "my key is [removed]", "max_tokens": 5}
    assert cleaned["list"] == ["[removed]", {}]
