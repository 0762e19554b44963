"""The playground's stream under ASGI: async columns, events as they come, Stop cancels.

Driven through Django's async test client, which builds the same `ASGIRequest` an
ASGI server (uvicorn, `make serve`) does; the real server with 20 streams at once is
`make bench-playground`. The blocking (WSGI, `make run`) path is in test_playground.py.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.test import AsyncClient, Client

from aiconfig import services
from aiconfig.models import CallLog, Channel, PlaygroundImage, PlaygroundRun
from tests.fake_provider import PNG_BYTES, FakeProvider
from tests.test_playground import (
    ANTHROPIC_KEY,
    OPENAI_KEY,
    SCHEMA,
    TOOLS,
    run_form,
    sse_events,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_ai(fake_provider: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> FakeProvider:
    """OpenAI and Anthropic pointed at the fake server, keys set."""
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    monkeypatch.setenv("ANTHROPIC_API_KEY", ANTHROPIC_KEY)
    services.update_provider(name="openai", base_url=fake_provider.openai_base_url)
    services.update_provider(name="anthropic", base_url=fake_provider.anthropic_base_url)
    fake_provider.reset()
    return fake_provider


async def signed_in(user: Any, *, enforce_csrf_checks: bool = False) -> AsyncClient:
    client = AsyncClient(enforce_csrf_checks=enforce_csrf_checks)
    await client.aforce_login(user)
    return client


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> bool:
    """True once `check` is, polling without blocking the event loop (no timing asserted)."""
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


def playground_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if "playground" in t.name]


def test_each_columns_text_arrives_while_the_others_still_run(
    editor: Any, fake_ai: FakeProvider
) -> None:
    async def scenario() -> tuple[list[tuple[str, Any]], list[str], list[str]]:
        client = await signed_in(editor)
        response = await client.post(
            "/playground/stream/",
            run_form(("", "openai/stall-after-first"), ("", "anthropic/claude-3-haiku-20240307")),
        )
        assert response["Content-Type"] == "text/event-stream"
        events: list[tuple[str, Any]] = []
        threads: list[str] = []
        async for chunk in response.streaming_content:
            events.extend(sse_events(iter([chunk])))
            threads.extend(playground_threads())
            done = [d["column"] for n, d in events if n == "column"]
            first = [d for n, d in events if n == "delta" and d["column"] == 0]
            if 1 in done and first:
                break  # column 0 has stalled after its first word: it will never end
        response.close()  # Stop
        await eventually(lambda: sync_to_async(PlaygroundRun.objects.filter(
            status=PlaygroundRun.Status.STOPPED).exists)())  # fmt: skip
        return events, threads, fake_ai.disconnects

    events, threads, disconnects = async_to_sync(scenario)()
    assert events[0][0] == "run"
    # Column 0's first word came out while its provider was still holding the stream open.
    assert any(n == "delta" and d["column"] == 0 for n, d in events)
    (answered,) = [d for n, d in events if n == "column"]
    assert "Hello from claude-3-haiku-20240307: Compare these" in answered["html"]
    assert threads == []  # no worker thread per column (the blocking path starts them)

    assert "stall-after-first" in disconnects  # Stop closed the provider connection
    run = PlaygroundRun.objects.get()
    assert [c["status"] for c in run.columns] == ["stopped", "answered"]
    assert run.columns[0]["text"].startswith("Hello")
    logged = CallLog.objects.filter(source=Channel.PLAYGROUND)
    outcomes = dict(logged.values_list("model", "outcome"))
    assert outcomes == {"stall-after-first": "cancelled", "claude-3-haiku-20240307": "success"}


def test_a_run_streams_to_its_end_and_is_saved_with_every_attempt(
    editor: Any, fake_ai: FakeProvider
) -> None:
    async def scenario() -> list[tuple[str, Any]]:
        client = await signed_in(editor)
        response = await client.post(
            "/playground/stream/",
            run_form(("", "openai/drip-0.05"), ("", "openai/fail-500"), ("text", "")),
        )
        return [e async for chunk in response.streaming_content for e in sse_events(iter([chunk]))]

    events = async_to_sync(scenario)()
    assert events[0][0] == "run"
    assert events[-1][0] == "done"
    deltas = [d["text"] for n, d in events if n == "delta" and d["column"] == 0]
    assert len(deltas) > 1  # word by word
    assert "".join(deltas) == "Hello from drip-0.05: Compare these"
    ends = {d["column"]: d["html"] for n, d in events if n == "column"}
    assert "HTTP 500" in ends[1]  # the failure in words
    run = PlaygroundRun.objects.get()
    assert run.status == PlaygroundRun.Status.FINISHED
    assert [c["status"] for c in run.columns] == ["answered", "failed", "answered"]
    logged = CallLog.objects.filter(source=Channel.PLAYGROUND)
    assert set(logged.values_list("user__username", flat=True)) == {"editor"}
    assert logged.filter(model="fail-500", outcome="success").count() == 0


def test_a_viewer_or_a_forged_post_runs_nothing_under_asgi(
    editor: Any, viewer: Any, fake_ai: FakeProvider
) -> None:
    async def scenario() -> tuple[int, int, int]:
        as_viewer = await signed_in(viewer)
        refused = await as_viewer.post("/playground/stream/", run_form(("text", "")))
        forger = await signed_in(editor, enforce_csrf_checks=True)
        forged = await forger.post("/playground/stream/", run_form(("text", "")))
        as_editor = await signed_in(editor)
        fetched = await as_editor.get("/playground/stream/")
        return refused.status_code, forged.status_code, fetched.status_code

    assert async_to_sync(scenario)() == (403, 403, 405)
    assert not PlaygroundRun.objects.exists()
    assert fake_ai.requests == []


def test_bad_input_is_refused_in_words_under_asgi(editor: Any, fake_ai: FakeProvider) -> None:
    async def scenario() -> tuple[int, Any]:
        client = await signed_in(editor)
        response = await client.post(
            "/playground/stream/", run_form(("", "openai"), ("nope", ""), prompt="")
        )
        return response.status_code, response.json()

    status, body = async_to_sync(scenario)()
    assert status == 422
    assert "Type a prompt to run." in body["errors"]
    assert "There is no task 'nope'." in body["errors"]
    assert not PlaygroundRun.objects.exists()


# --- the same features as the blocking path: turns, images, raw view, schema, tools ------

# What a column saves that does not depend on timing (latency, request ids differ per run).
SAME = ("status", "text", "answered_by", "structured", "images", "raw", "error")


# What differs from one run to the next on either path: timings, the fake's tool-call ids.
VARYING = frozenset({"latency_ms", "id"})


def comparable(value: Any) -> Any:
    """`value` without what differs from one run to the next (`VARYING`)."""
    if isinstance(value, dict):
        return {k: comparable(v) for k, v in value.items() if k not in VARYING}
    if isinstance(value, list):
        return [comparable(v) for v in value]
    return value


def stream_async(user: Any, form: dict[str, Any]) -> list[tuple[str, Any]]:
    """The events of one run posted to the stream under ASGI, read to the end."""

    async def scenario() -> list[tuple[str, Any]]:
        client = await signed_in(user)
        response = await client.post("/playground/stream/", form)
        return [e async for chunk in response.streaming_content for e in sse_events(iter([chunk]))]

    return async_to_sync(scenario)()


def stream_blocking(user: Any, form: dict[str, Any]) -> list[tuple[str, Any]]:
    """The same run on the blocking (WSGI) path, for comparison."""
    client = Client()
    client.force_login(user)
    return list(sse_events(client.post("/playground/stream/", form).streaming_content))


def both_paths(user: Any, fake: FakeProvider, form: dict[str, Any]) -> list[dict[str, Any]]:
    """Run `form` on both paths; each run's columns, what each sent, after checking they match."""
    runs, sent = [], []
    for stream in (stream_blocking, stream_async):
        fake.reset()
        events = stream(user, form)
        assert [events[0][0], events[-1][0]] == ["run", "done"]
        run = PlaygroundRun.objects.get(pk=events[0][1]["id"])
        runs.append({"run": run, "events": events})
        # In the order they were sent, which columns running at once do not fix.
        sent.append(sorted((r.body for r in fake.requests), key=json.dumps))
    blocking, asynchronous = (
        [comparable({k: c[k] for k in SAME}) for c in r["run"].columns] for r in runs
    )
    assert asynchronous == blocking
    assert sent[1] == sent[0]  # the providers were asked the very same things
    assert runs[1]["run"].turns == runs[0]["run"].turns
    return [{**r, "sent": s} for r, s in zip(runs, sent, strict=True)]


def test_continue_under_asgi_carries_each_columns_conversation_as_the_blocking_path(
    editor: Any, fake_ai: FakeProvider
) -> None:
    columns = (("", "openai/gpt-4o-mini"), ("", "anthropic/claude-3-5-haiku-latest"))
    client = Client()
    client.force_login(editor)
    client.post("/playground/", run_form(*columns, prompt="Name a colour"))
    first = PlaygroundRun.objects.get()
    mini = first.columns[0]["text"]
    form = run_form(*columns, prompt=first.prompt, from_run=str(first.pk), follow_up="More?")
    form["run"] = "continue"

    _, on_asgi = both_paths(editor, fake_ai, form)

    run = on_asgi["run"]
    assert run.prompt == "More?"
    assert run.turns == [{"prompt": "Name a colour", "answers": [c["text"] for c in first.columns]}]
    assert run.columns[0]["text"] == "Hello from gpt-4o-mini: More?"
    (openai_body,) = [b for b in on_asgi["sent"] if b.get("model") == "gpt-4o-mini"]
    assert openai_body["messages"] == [
        {"role": "user", "content": "Name a colour"},
        {"role": "assistant", "content": mini},
        {"role": "user", "content": "More?"},
    ]
    ends = [d["html"] for n, d in on_asgi["events"] if n == "column"]
    assert all("Conversation so far" in html and "Name a colour" in html for html in ends)


def test_an_image_column_under_asgi_draws_stores_and_offers_its_images(
    editor: Any, fake_ai: FakeProvider
) -> None:
    form = run_form(("image", ""), prompt="A lighthouse", image_size="1792x1024",
                    image_quality="hd", image_count="2")  # fmt: skip

    _, on_asgi = both_paths(editor, fake_ai, form)

    run = on_asgi["run"]
    (sent,) = [b for b in on_asgi["sent"] if b.get("size")]
    assert (sent["size"], sent["quality"], sent["n"]) == ("1792x1024", "hd", 2)
    assert run.columns[0]["status"] == "answered"
    stored = PlaygroundImage.objects.filter(run=run).order_by("position")
    assert [bytes(i.data) for i in stored] == [PNG_BYTES, PNG_BYTES]
    (html,) = [d["html"] for n, d in on_asgi["events"] if n == "column"]
    assert f"/playground/runs/{run.pk}/images/0/1/?download=1" in html
    client = Client()
    client.force_login(editor)
    assert client.get(f"/playground/runs/{run.pk}/images/0/0/?download=1").content == PNG_BYTES


def test_structured_output_tools_and_the_raw_view_under_asgi_match_the_blocking_path(
    editor: Any, fake_ai: FakeProvider
) -> None:
    structured = run_form(("", "openai/gpt-4.1"), ("", "openai/wrong-shape"),
                          json_schema=json.dumps(SCHEMA), system="Be brief")  # fmt: skip
    _, on_asgi = both_paths(editor, fake_ai, structured)
    ends = {d["column"]: d["html"] for n, d in on_asgi["events"] if n == "column"}
    assert "Valid against the JSON schema." in ends[0]
    assert "does not match the schema" in ends[1]
    assert "Raw request and response" in ends[0]
    raw = on_asgi["run"].columns[0]["raw"]
    assert raw["request"]["body"]["system"] == "Be brief"

    tools = run_form(("", "openai/gpt-4o-mini"), prompt="Weather in Oslo?",
                     tools=json.dumps(TOOLS))  # fmt: skip
    _, on_asgi = both_paths(editor, fake_ai, tools)
    (call,) = on_asgi["run"].columns[0]["raw"]["response"]["tool_calls"]
    assert call["name"] == "get_weather"
    for run in PlaygroundRun.objects.all():
        saved = json.dumps(run.columns)
        assert OPENAI_KEY not in saved
        assert ANTHROPIC_KEY not in saved
