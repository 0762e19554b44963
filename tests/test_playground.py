"""The playground page: who may run, state in the URL, streamed runs, Stop, saved runs, promote.

Every provider is the local fake (tests/fake_provider.py); models named after its
scenarios (`fail-500`, `stall-after-first`, ...) provoke failures through ordinary input.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client

from aiconfig import selectors, services
from aiconfig.models import CallLog, Channel, ConfigChange, PlaygroundRun
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

OPENAI_KEY = "sk-proj-PLAYGROUND-0000000000000-OA66"
ANTHROPIC_KEY = "sk-ant-PLAYGROUND-00000000000000-AN66"


@pytest.fixture
def fake_ai(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server, keys set."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


def signed_in(user: Any, *, enforce_csrf_checks: bool = False) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf_checks)
    client.force_login(user)
    return client


def run_form(*columns: tuple[str, str], prompt: str = "Compare these", **extra: str) -> dict:
    """The form as the page posts it: each column sends `col_task` and `col_model`."""
    return {
        "prompt": prompt,
        "col_task": [task for task, _ in columns],
        "col_model": [model for _, model in columns],
        "run": "1",
        **extra,
    }


def sse_events(chunks: Iterator[bytes]) -> Iterator[tuple[str, Any]]:
    """(event, data) pairs from a streamed response, as a browser's parser would see them."""
    buffer = ""
    for chunk in chunks:
        buffer += chunk.decode()
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            name, data = "message", []
            for line in block.split("\n"):
                if line.startswith("event:"):
                    name = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            if data:
                yield name, json.loads("\n".join(data))


# --- permissions: attacks ----------------------------------------------------------------


def test_a_viewer_sees_the_page_but_cannot_run(viewer: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(viewer)
    page = client.get("/playground/")
    assert page.status_code == 200
    assert b'name="run"' not in page.content  # no Run button offered

    form = run_form(("", "openai/gpt-4o-mini"))
    assert client.post("/playground/", form).status_code == 403
    assert client.post("/playground/stream/", form).status_code == 403
    assert PlaygroundRun.objects.count() == 0
    assert fake_ai.requests == []  # nothing reached the provider


def test_a_forged_post_without_csrf_token_runs_nothing(editor: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(editor, enforce_csrf_checks=True)
    form = run_form(("", "openai/gpt-4o-mini"))
    assert client.post("/playground/stream/", form).status_code == 403
    assert client.post("/playground/", form).status_code == 403
    assert PlaygroundRun.objects.count() == 0
    assert fake_ai.requests == []


def test_signed_out_visitors_are_sent_to_sign_in(client: Client) -> None:
    response = client.get("/playground/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


# --- state in the URL -----------------------------------------------------------------


def test_the_page_opens_from_its_url(editor: Any) -> None:
    query = (
        "?task=text&model=anthropic/claude-3-5-sonnet-20241022&model=openai/gpt-4o-mini"
        "&prompt=Name+a+bakery&system=Be+brief&temperature=0.3&max_tokens=50"
    )
    html = signed_in(editor).get(f"/playground/{query}").content.decode()
    assert '<option value="text" selected>' in html
    assert 'value="anthropic/claude-3-5-sonnet-20241022"' in html
    assert 'value="openai/gpt-4o-mini"' in html
    assert html.count("<legend>Column") == 3
    assert "Name a bakery</textarea>" in html
    assert "Be brief</textarea>" in html
    assert 'value="0.3"' in html
    assert 'value="50"' in html
    for label in ("Prompt", "System prompt", "Model", "Temperature", "Max tokens"):
        assert f">{label}</label>" in html
    assert ">Run</button>" in html
    assert ">Add column</button>" in html
    assert ">Stop</button>" in html


def test_add_remove_and_duplicate_columns_keep_the_state_in_the_url(editor: Any) -> None:
    client = signed_in(editor)
    form = run_form(("text", ""), ("", "openai/gpt-4o-mini"), prompt="Hi there")
    del form["run"]
    added = client.post("/playground/", {**form, "add": "1"})
    assert added.status_code == 302
    assert added["Location"] == (
        "/playground/?task=text&model=openai%2Fgpt-4o-mini&model=&prompt=Hi+there"
    )
    removed = client.post("/playground/", {**form, "remove": "0"})
    assert removed["Location"] == "/playground/?model=openai%2Fgpt-4o-mini&prompt=Hi+there"
    duplicated = client.post("/playground/", {**form, "duplicate": "1"})
    assert duplicated["Location"].startswith(
        "/playground/?task=text&model=openai%2Fgpt-4o-mini&model=openai%2Fgpt-4o-mini&"
    )
    assert PlaygroundRun.objects.count() == 0


def test_bad_input_comes_back_with_words_and_runs_nothing(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    response = client.post("/playground/", run_form(("", "no-slash"), prompt=""))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Type a prompt to run." in html
    assert "Choose a model as provider/model" in html
    assert 'value="no-slash"' in html  # the input is kept
    streamed = client.post("/playground/stream/", run_form(("nope", ""), prompt="Hi"))
    assert streamed.status_code == 422
    assert "There is no task 'nope'." in streamed.json()["errors"]
    assert PlaygroundRun.objects.count() == 0
    assert fake_ai.requests == []


# --- running -------------------------------------------------------------------------------


def test_a_run_without_javascript_saves_every_column_and_logs_every_attempt(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(
        ("text", ""), ("", "openai/gpt-4o-mini"), ("", "anthropic/fail-500"), prompt="Say hi"
    )
    response = client.post("/playground/", form)
    run = PlaygroundRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/playground/runs/{run.pk}/"
    assert run.user == editor
    assert run.status == PlaygroundRun.Status.FINISHED
    task, direct, failed = run.columns
    assert task["status"] == "answered"
    assert task["text"].startswith("Hello from ")
    assert direct["answered_by"] == "openai/gpt-4o-mini"
    assert direct["text"] == "Hello from gpt-4o-mini: Say hi"
    assert direct["input_tokens"]
    assert direct["output_tokens"]
    assert direct["first_token_ms"]
    assert failed["status"] == "failed"
    assert "HTTP 500" in failed["error"]

    rows = CallLog.objects.filter(source=Channel.PLAYGROUND)
    assert rows.count() == 3
    assert {row.user_id for row in rows} == {editor.pk}

    html = client.get(response["Location"]).content.decode()
    assert "Hello from gpt-4o-mini: Say hi" in html
    assert "anthropic/fail-500" in html
    assert "HTTP 500" in html
    assert "Run again" in html
    assert OPENAI_KEY not in html
    assert ANTHROPIC_KEY not in html


def test_the_stream_sends_each_columns_text_as_it_arrives(
    editor: Any, fake_ai: FakeProvider
) -> None:
    form = run_form(
        ("", "openai/gpt-4o-mini"),
        ("", "anthropic/claude-3-haiku-20240307"),
        prompt="Tell me more",
        system="Answer in English",
        temperature="0.2",
        max_tokens="64",
    )
    response = signed_in(editor).post("/playground/stream/", form)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/event-stream"
    events = list(sse_events(response.streaming_content))

    names = [name for name, _ in events]
    assert names[0] == "run"
    assert names[-1] == "done"
    run = PlaygroundRun.objects.get(pk=events[0][1]["id"])
    for index, model in enumerate(("gpt-4o-mini", "claude-3-haiku-20240307")):
        deltas = [d["text"] for n, d in events if n == "delta" and d["column"] == index]
        assert len(deltas) > 1  # word by word, not one block at the end
        assert "".join(deltas) == f"Hello from {model}: Tell me more"
        (end,) = [d for n, d in events if n == "column" and d["column"] == index]
        assert f"Hello from {model}: Tell me more" in end["html"]
        assert run.columns[index]["text"] == f"Hello from {model}: Tell me more"

    # The settings reached the providers.
    openai_body = next(r.body for r in fake_ai.requests if "chat/completions" in r.path)
    assert openai_body["temperature"] == 0.2
    assert openai_body["messages"][0] == {"role": "system", "content": "Answer in English"}
    anthropic_body = next(r.body for r in fake_ai.requests if r.path.endswith("/messages"))
    assert anthropic_body["max_tokens"] == 64
    assert anthropic_body["system"]


# Transactional: closing the response ends the request, and on PostgreSQL Django then
# closes the database connection as it would after any real request.
@pytest.mark.django_db(transaction=True)
def test_closing_the_stream_cancels_the_provider_request(
    editor: Any, fake_ai: FakeProvider
) -> None:
    form = run_form(("", "openai/stall-after-first"), prompt="Wait for it")
    response = signed_in(editor).post("/playground/stream/", form)
    events = sse_events(iter(response.streaming_content))
    assert next(events)[0] == "run"
    assert next(events)[0] == "delta"  # the first word arrived; then the provider stalls
    response.close()  # what the server does when the browser goes away (or Stop)

    deadline = time.monotonic() + 5
    while "stall-after-first" not in fake_ai.disconnects and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "stall-after-first" in fake_ai.disconnects
    run = PlaygroundRun.objects.get()
    assert run.status == PlaygroundRun.Status.STOPPED
    assert run.columns[0]["status"] == "stopped"
    assert run.columns[0]["text"].startswith("Hello")
    log = CallLog.objects.get(source=Channel.PLAYGROUND)
    assert log.outcome == "cancelled"


# --- saved runs -------------------------------------------------------------------------


def test_saved_runs_are_listed_reopened_and_exported(
    editor: Any, viewer: Any, fake_ai: FakeProvider
) -> None:
    signed_in(editor).post("/playground/", run_form(("", "openai/gpt-4o-mini"), prompt="Hello"))
    run = PlaygroundRun.objects.get()
    client = signed_in(viewer)
    listing = client.get("/playground/").content.decode()
    assert f'href="/playground/runs/{run.pk}/"' in listing

    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    assert "Hello from gpt-4o-mini: Hello" in page
    assert 'value="openai/gpt-4o-mini"' in page
    assert 'name="run"' not in page  # read-only for a viewer

    export = client.get(f"/playground/runs/{run.pk}/export.json")
    assert export["Content-Disposition"] == (f'attachment; filename="playground-run-{run.pk}.json"')
    data = json.loads(export.content)
    assert data["prompt"] == "Hello"
    assert data["user"] == "editor"
    assert data["columns"][0]["text"] == "Hello from gpt-4o-mini: Hello"

    markdown = client.get(f"/playground/runs/{run.pk}/export.md")
    assert markdown["Content-Type"] == "text/markdown; charset=utf-8"
    text = markdown.content.decode()
    assert text.startswith(f"# Playground run #{run.pk}\n")
    assert "## 1. openai/gpt-4o-mini" in text
    assert "Answered by openai/gpt-4o-mini" in text
    assert "```text\nHello from gpt-4o-mini: Hello\n```" in text
    assert OPENAI_KEY not in export.content.decode()


# --- promote --------------------------------------------------------------------------------


def test_promote_makes_the_model_the_tasks_primary_with_the_run_in_history(
    editor: Any, viewer: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    client.post("/playground/", run_form(("", "anthropic/claude-3-haiku-20240307")))
    run = PlaygroundRun.objects.get()
    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    assert "Use for task</button>" in page

    forged = signed_in(viewer).post(
        f"/playground/runs/{run.pk}/promote/", {"column": "0", "task": "text"}
    )
    assert forged.status_code == 403
    assert selectors.get_task_config(task="text").provider != "anthropic"

    response = client.post(f"/playground/runs/{run.pk}/promote/", {"column": "0", "task": "text"})
    assert response.status_code == 302
    config = selectors.get_task_config(task="text")
    assert (config.provider, config.model) == ("anthropic", "claude-3-haiku-20240307")
    change = ConfigChange.objects.order_by("-id").first()
    assert change.user == editor
    assert change.channel == Channel.PLAYGROUND
    assert f"playground run #{run.pk}" in change.summary
    history = client.get("/history/").content.decode()
    assert f'<a href="/playground/runs/{run.pk}/">playground run #{run.pk}</a>' in history


def test_a_failed_column_cannot_be_promoted(editor: Any, fake_ai: FakeProvider) -> None:
    client = signed_in(editor)
    client.post("/playground/", run_form(("", "openai/fail-500")))
    run = PlaygroundRun.objects.get()
    before = selectors.get_task_config(task="text")
    response = client.post(
        f"/playground/runs/{run.pk}/promote/", {"column": "0", "task": "text"}, follow=True
    )
    assert "Only a column that answered can be used for a task." in response.content.decode()
    assert selectors.get_task_config(task="text") == before


def test_a_slides_task_column_shows_validated_json_or_the_validation_error(
    editor: Any, fake_ai: FakeProvider
) -> None:
    services.update_task_config(task="video-slides", provider="openai", model="gpt-4.1")
    client = signed_in(editor)
    client.post("/playground/", run_form(("video-slides", ""), prompt="Three facts about owls"))
    (slides,) = PlaygroundRun.objects.get().columns
    assert slides["status"] == "answered"
    data = json.loads(slides["text"])
    assert data["slides"]
    assert set(data["slides"][0]) == {"image_prompt", "narration"}
    request = fake_ai.requests[-1].body
    assert request["response_format"]["type"] == "json_schema"  # the slide schema was sent

    services.update_task_config(task="video-slides", model="wrong-shape")
    PlaygroundRun.objects.all().delete()
    client.post("/playground/", run_form(("video-slides", ""), prompt="Three facts about owls"))
    (broken,) = PlaygroundRun.objects.get().columns
    assert broken["status"] == "failed"
    assert "openai/wrong-shape" in broken["error"]


def test_a_task_card_opens_the_task_and_its_chain_in_the_playground(editor: Any) -> None:
    services.update_task_config(
        task="text",
        provider="anthropic",
        model="claude-3-haiku-20240307",
        fallbacks=[("openai", "gpt-4o-mini")],
    )
    html = signed_in(editor).get("/").content.decode()
    link = (
        "/playground/?task=text&amp;model=anthropic/claude-3-haiku-20240307"
        "&amp;model=openai/gpt-4o-mini"
    )
    assert f'href="{link}">Try text in the playground</a>' in html


def test_under_asgi_each_event_is_sent_as_it_arrives(editor: Any, fake_ai: FakeProvider) -> None:
    # Django buffers a blocking iterator whole under ASGI (uvicorn in production): the
    # stream must be an async one there, or the page would get every word at the end.
    async def scenario() -> tuple[float, float, str]:
        client = AsyncClient()
        await client.aforce_login(editor)
        started = time.monotonic()
        response = await client.post(
            "/playground/stream/", run_form(("", "openai/drip-0.3"), prompt="one two three")
        )
        first_delta, text = 0.0, ""
        async for chunk in response.streaming_content:
            for name, data in sse_events(iter([chunk])):
                if name == "delta":
                    first_delta = first_delta or time.monotonic() - started
                    text += data["text"]
        return first_delta, time.monotonic() - started, text

    first_delta, total, text = async_to_sync(scenario)()
    assert text == "Hello from drip-0.3: one two three"
    assert total > 1.5  # six words, 0.3 s apart
    assert first_delta < total - 1.0  # the first word came long before the last


def test_markup_in_a_prompt_or_answer_is_shown_as_text_never_run(
    editor: Any, fake_ai: FakeProvider
) -> None:
    attack = '<img src=x onerror="alert(1)">'
    client = signed_in(editor)
    response = client.post(
        "/playground/stream/", run_form(("", "openai/gpt-4o-mini"), prompt=attack)
    )
    events = list(sse_events(response.streaming_content))
    (end,) = [data for name, data in events if name == "column"]
    assert attack not in end["html"]  # the echoed answer is escaped in the column's HTML
    assert "&lt;img src=x" in end["html"]
    run = PlaygroundRun.objects.get()
    for url in ("/playground/", f"/playground/runs/{run.pk}/"):
        html = client.get(url).content.decode()
        assert attack not in html


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "year": {"type": "integer"}},
    "required": ["name", "year"],
}
TOOLS = [
    {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def test_a_json_schema_makes_every_column_answer_validated_json(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(
        ("", "openai/gpt-4.1"), ("", "openai/wrong-shape"), json_schema=json.dumps(SCHEMA)
    )
    client.post("/playground/", form)
    run = PlaygroundRun.objects.get()
    assert run.json_schema == SCHEMA
    good, bad = run.columns
    assert good["status"] == "answered"
    assert set(json.loads(good["text"])) == {"name", "year"}
    assert bad["status"] == "failed"
    assert "does not match the schema" in bad["error"] or "invalid" in bad["error"].lower()
    sent = [r.body for r in fake_ai.requests if r.body and r.body.get("model") == "gpt-4.1"]
    assert sent[0]["response_format"]["json_schema"]["schema"]["required"] == ["name", "year"]


def test_tools_make_every_column_a_chat_turn_showing_the_tool_calls(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(("", "openai/gpt-4o-mini"), prompt="Weather in Oslo?", tools=json.dumps(TOOLS))
    client.post("/playground/", form)
    (column,) = PlaygroundRun.objects.get().columns
    assert column["status"] == "answered"
    assert column["text"].startswith('Tool call: get_weather({"city": ')
    run = PlaygroundRun.objects.get()
    page = client.get(f"/playground/runs/{run.pk}/").content.decode()
    assert "not streamed" in page  # no time to first token for a whole answer
    sent = fake_ai.requests[-1].body
    assert sent["tools"][0]["function"]["name"] == "get_weather"


def test_bad_schema_or_tools_come_back_in_words_and_run_nothing(
    editor: Any, fake_ai: FakeProvider
) -> None:
    client = signed_in(editor)
    form = run_form(
        ("", "openai/gpt-4o-mini"), json_schema='{"type": "object",', tools='[{"nam": 1}]'
    )
    response = client.post("/playground/", form)
    assert response.status_code == 422
    html = response.content.decode()
    assert "The JSON schema is not valid JSON (line 1" in html
    assert "Tool 1 needs a &quot;name&quot;." in html
    assert "{&quot;type&quot;: &quot;object&quot;,</textarea>" in html  # kept as typed
    assert PlaygroundRun.objects.count() == 0
    assert fake_ai.requests == []


def test_slides_and_agent_columns_prefill_the_schema_and_example_tools(editor: Any) -> None:
    html = signed_in(editor).get("/playground/?task=video-slides&task=agent").content.decode()
    assert "image_prompt" in html.split('id="id_json_schema"')[1].split("</textarea>")[0]
    assert "get_weather" in html.split('id="id_tools"')[1].split("</textarea>")[0]


def test_a_providers_text_model_opens_in_the_playground(editor: Any) -> None:
    html = signed_in(editor).get("/providers/").content.decode()
    assert 'href="/playground/?model=openai/gpt-4o-mini">Try <span' in html
    assert "/playground/?model=openai/dall-e-3" not in html  # images only: no text column
    services.update_provider(name="openai", enabled=False)
    html = signed_in(editor).get("/providers/").content.decode()
    assert "/playground/?model=openai/" not in html  # a disabled provider cannot run
