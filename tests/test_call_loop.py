"""The attempt loop under hostile providers: deadlines, stalls, cancels; sync and async alike."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import async_to_sync

from adapters import CancelToken
from aiconfig import selectors
from aiconfig.models import CallLog, TaskAssignment, TaskFallback
from aiconfig.services import calls
from aiconfig.services.calls import TaskFailed
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

ANTHROPIC_FALLBACK = ("anthropic", "claude-3-5-sonnet-20241022")
MODES = ["sync", "async"]


def force(task: str, provider: str, model: str, *fallbacks: tuple[str, str], **limits: Any) -> None:
    """Store an assignment as written (skipping validation), with its timeout/limits."""
    assignment = TaskAssignment.objects.get(task__name=task)
    TaskAssignment.objects.filter(pk=assignment.pk).update(
        provider=provider, model=model, timeout_seconds=1.0, **limits
    )
    assignment.fallbacks.all().delete()
    TaskFallback.objects.bulk_create(
        TaskFallback(assignment=assignment, position=i, provider=p, model=m)
        for i, (p, m) in enumerate(fallbacks)
    )
    selectors.clear_config_cache()


def rows() -> list[CallLog]:
    return list(CallLog.objects.order_by("id"))


def generate(mode: str, **kwargs: Any) -> calls.TaskRun:
    """`generate_text` or its async twin, with the same arguments."""
    if mode == "sync":
        return calls.generate_text(**kwargs)
    return async_to_sync(calls.agenerate_text)(**kwargs)


def stream_all(
    mode: str, **kwargs: Any
) -> tuple[list[str], calls.TaskRun | None, Exception | None]:
    """Read a whole stream (sync or async): the deltas, the run, or the error after them."""
    parts: list[str] = []
    if mode == "sync":
        stream = calls.stream_text(**kwargs)
        try:
            parts.extend(stream)
        except TaskFailed as exc:
            return parts, None, exc
        return parts, stream.run, None

    async def read() -> tuple[list[str], calls.TaskRun | None, Exception | None]:
        stream = await calls.astream_text(**kwargs)
        try:
            async for delta in stream:
                parts.append(delta)
        except TaskFailed as exc:
            return parts, None, exc
        return parts, stream.run, None

    return async_to_sync(read)()


def wait_for(condition: Callable[[], bool], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("model", ["trickle-0.05", "hang"])
def test_a_provider_that_trickles_or_hangs_is_cut_off_at_the_timeout(
    wired: FakeProvider, mode: str, model: str
) -> None:
    force("text", "openai", model, ANTHROPIC_FALLBACK)
    started = time.perf_counter()
    run = generate(mode, prompt="hello")
    elapsed = time.perf_counter() - started
    assert run.provider == "anthropic"
    # The 1 s timeout bounds the whole attempt (the trickle would take >10 s, the hang
    # 30 s); the slack is for a loaded machine.
    assert elapsed < 3.0
    first, second = rows()
    assert (first.outcome, first.error_kind) == ("timed_out", "timed_out")
    assert "no response within 1 s" in first.error_message
    assert second.outcome == "success"
    # The abandoned request's connection was closed, not left trickling.
    assert wait_for(lambda: model in wired.disconnects)


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_whose_first_token_is_late_falls_back(wired: FakeProvider, mode: str) -> None:
    force("text", "openai", "late-first-token-5", ANTHROPIC_FALLBACK)
    started = time.perf_counter()
    parts, run, error = stream_all(mode, prompt="hello")
    assert error is None
    assert run is not None
    assert run.provider == "anthropic"
    assert "".join(parts).startswith("Hello from claude")
    assert time.perf_counter() - started < 3.0  # not the 5-30 s a wait would take
    assert [r.outcome for r in rows()] == ["timed_out", "success"]


@pytest.mark.parametrize("mode", MODES)
def test_a_stream_that_stalls_after_its_first_token_ends_with_a_clear_error(
    wired: FakeProvider, mode: str
) -> None:
    force("text", "openai", "stall-after-first", ANTHROPIC_FALLBACK)
    started = time.perf_counter()
    parts, run, error = stream_all(mode, prompt="one two three")
    elapsed = time.perf_counter() - started
    assert parts == ["Hello "]  # the first token reached the reader
    assert run is None
    assert isinstance(error, TaskFailed)
    assert "the stream failed after it had started" in str(error)
    assert "stream stalled (no token for 1 s)" in str(error)
    assert 0.9 < elapsed < 3.0  # the 1 s idle timeout, not the 30 s stall
    [row] = rows()  # no fallback after the first token
    assert (row.outcome, row.error_kind) == ("timed_out", "timed_out")
    assert wait_for(lambda: "stall-after-first" in wired.disconnects)


def test_cancel_during_a_request_closes_it_and_logs_cancelled(wired: FakeProvider) -> None:
    force("text", "openai", "hang", ANTHROPIC_FALLBACK)
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=10)
    selectors.clear_config_cache()
    token = CancelToken()
    threading.Timer(0.3, token.cancel).start()
    started = time.perf_counter()
    with pytest.raises(TaskFailed, match="was cancelled") as excinfo:
        calls.generate_text(prompt="hello", cancel=token)
    assert time.perf_counter() - started < 3.0  # not the 10 s timeout
    assert excinfo.value.cancelled
    [row] = rows()  # the fallback was not started after the cancel
    assert (row.outcome, row.error_kind) == ("cancelled", "cancelled")
    assert wait_for(lambda: "hang" in wired.disconnects)
    assert not any(r.path == "/v1/messages" for r in wired.requests)


def test_cancel_during_a_stream_closes_it_and_logs_cancelled(wired: FakeProvider) -> None:
    force("text", "openai", "stall-after-first")
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=10)
    selectors.clear_config_cache()
    stream = calls.stream_text(prompt="one two three")
    assert next(stream) == "Hello "
    threading.Timer(0.3, stream.cancel).start()  # e.g. a Stop button, from another thread
    started = time.perf_counter()
    with pytest.raises(TaskFailed, match="was cancelled"):
        next(stream)
    assert time.perf_counter() - started < 3.0  # not the 10 s timeout
    [row] = rows()
    assert row.outcome == "cancelled"
    assert wait_for(lambda: "stall-after-first" in wired.disconnects)


def test_cancelling_the_async_task_closes_the_request_and_logs_cancelled(
    wired: FakeProvider,
) -> None:
    force("text", "openai", "hang", ANTHROPIC_FALLBACK)
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=10)
    selectors.clear_config_cache()

    async def caller_goes_away() -> bool:
        task = asyncio.ensure_future(calls.agenerate_text(prompt="hello"))
        await asyncio.sleep(0.3)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return True
        return False

    assert async_to_sync(caller_goes_away)()
    [row] = rows()
    assert row.outcome == "cancelled"
    assert wait_for(lambda: "hang" in wired.disconnects)


def test_an_async_stream_closed_by_its_reader_is_logged_as_cancelled(
    wired: FakeProvider,
) -> None:
    async def read_one() -> str:
        stream = await calls.astream_text(prompt="one two three four five")
        async for delta in stream:
            await stream.aclose()  # a browser that closed its stream
            return delta
        return ""

    assert async_to_sync(read_one)() == "Hello "
    [row] = rows()
    assert (row.outcome, row.error_kind) == ("cancelled", "cancelled")


@pytest.mark.parametrize("mode", MODES)
def test_async_and_sync_calls_answer_and_fall_back_alike(wired: FakeProvider, mode: str) -> None:
    force("text", "openai", "fail-500", ANTHROPIC_FALLBACK)
    run = generate(mode, prompt="Write a tagline")
    assert (run.provider, run.fallback_used) == ("anthropic", True)
    assert run.text == "Hello from claude-3-5-sonnet-20241022: Write a tagline"
    assert [(r.outcome, r.error_kind) for r in rows()] == [
        ("error", "provider_error"),
        ("success", ""),
    ]
    assert rows()[1].cost_usd is not None


@pytest.mark.parametrize("mode", MODES)
def test_the_total_time_limit_stops_further_fallbacks(wired: FakeProvider, mode: str) -> None:
    force(
        "text",
        "openai",
        "hang",
        ("openai", "trickle-0.05"),
        ANTHROPIC_FALLBACK,
        total_timeout_seconds=1.5,
    )
    started = time.perf_counter()
    with pytest.raises(TaskFailed) as excinfo:
        generate(mode, prompt="hi")
    assert time.perf_counter() - started < 2.5  # the 1.5 s limit, with slack
    assert [(r.model, r.outcome, r.error_kind) for r in rows()] == [
        ("hang", "timed_out", "timed_out"),
        ("trickle-0.05", "timed_out", "timed_out"),  # cut at the limit, not its own timeout
        ("claude-3-5-sonnet-20241022", "error", "total_time_limit"),
    ]
    assert "total time limit of 1.5 s had run out" in str(excinfo.value)
    assert not any(r.path == "/v1/messages" for r in wired.requests)


def test_a_total_limit_shorter_than_the_timeout_is_refused_everywhere(
    wired: FakeProvider,
) -> None:
    from django.core.management import CommandError, call_command

    from aiconfig import services

    with pytest.raises(services.ConfigValidationError) as excinfo:
        services.update_task_config(task="text", timeout_seconds=10, total_timeout_seconds=5)
    assert [p.field for p in excinfo.value.problems] == ["total_timeout_seconds"]
    assert selectors.get_task_config(task="text").total_timeout_seconds is None  # nothing lost

    with pytest.raises(CommandError, match="shorter than the timeout"):
        call_command("ai_config", "set", "text", "--timeout", "10", "--total-timeout", "5")
    call_command("ai_config", "set", "text", "--timeout", "10", "--total-timeout", "30")
    assert selectors.get_task_config(task="text").total_timeout_seconds == 30
    call_command("ai_config", "set", "text", "--total-timeout", "0")
    assert selectors.get_task_config(task="text").total_timeout_seconds is None


def collect(mode: str, sync_fn: Any, async_fn: Any, **kwargs: Any) -> list[calls.RouteEvent]:
    """Every event of a fan-out, sync or async."""
    if mode == "sync":
        return list(sync_fn(**kwargs))

    async def gather() -> list[calls.RouteEvent]:
        return [event async for event in async_fn(**kwargs)]

    return async_to_sync(gather)()


THREE_ROUTES = [("openai", "slow-0.8"), ("anthropic", "fail-500"), ("openai", "gpt-4.1")]


@pytest.mark.parametrize("mode", MODES)
def test_fan_out_runs_routes_at_once_and_reports_each_as_it_arrives(
    wired: FakeProvider, mode: str
) -> None:
    force("text", "openai", "gpt-4.1")
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=2)
    selectors.clear_config_cache()
    events = collect(
        mode, calls.fan_out, calls.afan_out, task="text", prompt="compare", routes=THREE_ROUTES
    )
    # Side by side, not one after the other: the first route, the slow one, ends last.
    assert [e.index for e in events][-1] == 0
    by_index = {e.index: e for e in events}
    assert by_index[0].run is not None
    assert by_index[0].run.text == "Hello from slow-0.8: compare"
    assert by_index[1].run is None
    assert by_index[1].error is not None
    assert "server error (HTTP 500)" in str(by_index[1].error)
    assert by_index[2].run is not None
    assert by_index[2].run.model == "gpt-4.1"
    # One call (and one row) per route; a failing route does not fall back.
    logged = {(r.provider, r.model): r for r in rows()}
    assert set(logged) == set(THREE_ROUTES)
    assert logged[("anthropic", "fail-500")].outcome == "error"
    assert len({r.request_id for r in rows()}) == 3


@pytest.mark.parametrize("mode", MODES)
def test_fan_out_streams_every_route_as_its_tokens_arrive(wired: FakeProvider, mode: str) -> None:
    force("text", "openai", "gpt-4.1")
    routes = [("openai", "late-first-token-0.6"), ("anthropic", "fail-500"), ("openai", "gpt-4.1")]
    events = collect(
        mode,
        calls.fan_out_stream,
        calls.afan_out_stream,
        task="text",
        prompt="one two three",
        routes=routes,
    )
    deltas = [e for e in events if not e.done]
    # The prompt fast route's tokens arrive before the late route's first one.
    first_late = next(i for i, e in enumerate(deltas) if e.index == 0)
    assert all(e.index == 2 for e in deltas[:first_late])
    assert first_late > 0
    ends = {e.index: e for e in events if e.done}
    assert ends[0].run is not None
    assert ends[0].run.text == "".join(e.delta for e in deltas if e.index == 0)
    assert ends[1].error is not None
    assert ends[2].run is not None
    assert sorted(r.outcome for r in rows()) == ["error", "success", "success"]


def test_ai_run_compare_prints_every_route_of_the_chain(wired: FakeProvider) -> None:
    from io import StringIO

    from django.core.management import call_command

    force("text", "openai", "gpt-4.1", ("anthropic", "fail-500"))
    out = StringIO()
    call_command("ai_run", "text", "side by side", "--compare", stdout=out)
    text = out.getvalue()
    assert "Hello from gpt-4.1: side by side" in text
    assert "[anthropic/fail-500] failed: anthropic: server error (HTTP 500)" in text
    assert {r.source for r in rows()} == {"cli"}


def run_op(mode: str, name: str, **kwargs: Any) -> calls.TaskRun:
    """A public call or its async twin (`a` + name), with the same arguments."""
    if mode == "sync":
        return getattr(calls, name)(**kwargs)
    return async_to_sync(getattr(calls, "a" + name))(**kwargs)


@pytest.mark.parametrize("mode", MODES)
def test_every_shape_answers_alike_on_both_paths(wired: FakeProvider, mode: str) -> None:
    image = run_op(mode, "generate_image", prompt="a lighthouse")
    assert image.images[0].data.startswith(b"\x89PNG")
    slides = run_op(mode, "generate_slides", prompt="owls")
    assert slides.slides[0].narration
    force("agent", *ANTHROPIC_FALLBACK)
    turn = run_op(
        mode,
        "chat",
        task="agent",
        messages=[{"role": "user", "content": "Weather in Oslo?"}],
        tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": {}}}],
    )
    assert turn.tool_calls[0].name == "get_weather"
    force("video-slides", "openai", "wrong-shape", ANTHROPIC_FALLBACK)
    checked = run_op(mode, "generate_slides", prompt="owls")  # schema failure falls back
    assert checked.provider == "anthropic"
    assert [r.error_kind for r in rows()][-2:] == ["invalid_output", ""]


def test_an_image_download_that_trickles_is_cut_off_at_the_timeout(wired: FakeProvider) -> None:
    force("image", "openai", "trickle-image", ("openai", "gpt-image-1"))
    started = time.perf_counter()
    run = calls.generate_image(prompt="a lighthouse")
    assert time.perf_counter() - started < 3.0  # not the 5-30 s a wait would take
    assert run.model == "gpt-image-1"
    assert [r.outcome for r in rows()] == ["timed_out", "success"]


@pytest.mark.parametrize("mode", MODES)
def test_an_anthropic_provider_that_hangs_is_cut_off_too(wired: FakeProvider, mode: str) -> None:
    force("text", "anthropic", "hang", ("openai", "gpt-4.1"))
    started = time.perf_counter()
    run = generate(mode, prompt="hello")
    assert time.perf_counter() - started < 3.0  # not the 5-30 s a wait would take
    assert run.provider == "openai"
    assert [r.outcome for r in rows()] == ["timed_out", "success"]


def test_a_reader_leaving_a_fan_out_early_stops_the_routes_still_running(
    wired: FakeProvider,
) -> None:
    force("text", "openai", "gpt-4.1")
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=10)
    selectors.clear_config_cache()
    events = calls.fan_out(
        task="text", prompt="hi", routes=[("openai", "hang"), ("openai", "gpt-4.1")]
    )
    first = next(events)
    assert first.model == "gpt-4.1"
    started = time.perf_counter()
    events.close()  # e.g. the playground page was closed
    assert time.perf_counter() - started < 3.0  # not the 10 s timeout
    assert sorted((r.model, r.outcome) for r in rows()) == [
        ("gpt-4.1", "success"),
        ("hang", "cancelled"),
    ]
    assert wait_for(lambda: "hang" in wired.disconnects)


def test_leaving_an_async_fan_out_early_cancels_and_logs_the_rest(wired: FakeProvider) -> None:
    force("text", "openai", "gpt-4.1")
    TaskAssignment.objects.filter(task__name="text").update(timeout_seconds=10)
    selectors.clear_config_cache()

    async def first_only() -> calls.RouteEvent:
        events = calls.afan_out(
            task="text", prompt="hi", routes=[("openai", "hang"), ("openai", "gpt-4.1")]
        )
        first = await anext(events)
        await events.aclose()
        return first

    assert async_to_sync(first_only)().model == "gpt-4.1"
    assert sorted((r.model, r.outcome) for r in rows()) == [
        ("gpt-4.1", "success"),
        ("hang", "cancelled"),
    ]


def test_the_task_form_sets_checks_and_clears_the_total_limit(
    wired: FakeProvider, client: Any, editor: Any
) -> None:
    import re

    client.force_login(editor)

    def post(total: str) -> Any:
        return client.post(
            "/tasks/text/edit/",
            {
                "text-provider": "openai",
                "text-model": "gpt-4.1",
                "text-timeout_seconds": "30",
                "text-max_retries": "0",
                "text-total_timeout_seconds": total,
                "action": "save",
            },
            headers={"HX-Request": "true"},
        )

    refused = post("10")
    assert refused.status_code == 422
    error = re.search(
        r'id="id_text-total_timeout_seconds_error">(.*?)</ul>', refused.content.decode(), re.S
    )
    assert error is not None
    assert "shorter than the timeout" in error.group(1)
    assert selectors.get_task_config(task="text").total_timeout_seconds is None

    assert post("90").status_code == 200
    selectors.clear_config_cache()
    assert selectors.get_task_config(task="text").total_timeout_seconds == 90
    assert post("").status_code == 200
    selectors.clear_config_cache()
    assert selectors.get_task_config(task="text").total_timeout_seconds is None
