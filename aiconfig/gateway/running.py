"""Running a checked chat request on the async call path, whole or streamed.

Shared by both wire formats: which call a request becomes (text, structured output,
a chat turn with tools), opening a token stream (fallbacks happen before its first
token), SSE responses, and the headers that say who answered.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse

from aiconfig.gateway.chat_request import ChatParams
from aiconfig.models import Channel
from aiconfig.services.calls import (
    AsyncTaskStream,
    TaskRun,
    achat,
    agenerate_structured,
    agenerate_text,
)
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.plan import aresolve


def run_headers(response: HttpResponse, run: TaskRun) -> HttpResponse:
    """Who answered: our request id, the provider and model, whether a fallback did."""
    response["x-aiconfig-request-id"] = str(run.request_id)
    response["x-aiconfig-provider"] = run.provider
    response["x-aiconfig-model"] = run.model
    response["x-aiconfig-fallback-used"] = "true" if run.fallback_used else "false"
    return response


async def run_chat(params: ChatParams) -> tuple[TaskRun, str]:
    """Run a non-streamed (or not token-streamable) request; the run and its content."""
    if params.schema is not None:
        run = await agenerate_structured(
            prompt=params.prompt,
            schema=params.schema,
            task=params.task,
            schema_name=params.schema_name,
            system="\n\n".join(params.system) or None,
            max_tokens=params.max_tokens,
            source=Channel.API,
        )
        return run, json.dumps(run.data)
    if params.plain and not params.tools:
        run = await agenerate_text(
            prompt=params.prompt,
            task=params.task,
            system="\n\n".join(params.system) or None,
            max_tokens=params.max_tokens,
            temperature=params.temperature,
            source=Channel.API,
        )
        return run, run.text or ""
    run = await achat(
        messages=params.messages,
        tools=params.tools,
        task=params.task,
        tool_choice=params.tool_choice,
        max_tokens=params.max_tokens,
        source=Channel.API,
    )
    return run, run.text or ""


def sse_response(chunks: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold chunks back
    return response


async def open_stream(
    *, task: str, prompt: str, system: str | None, max_tokens: int | None, temperature: float | None
) -> tuple[AsyncTaskStream, Any, AsyncIterator[str], str | None]:
    """Start a text stream and wait for its first token (fallbacks happen before it).

    Returns the stream, its walk (who is answering), the deltas' iterator and the
    first delta (None for an empty answer). Every attempt failing raises TaskFailed
    here, so the client gets an error status rather than a broken stream.
    """
    call = ops.text_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    call = ops.Call(
        call.task,
        call.kinds,
        ops.Operation("stream", "stream_text", call.operation.request),
        prompt,
    )
    resolved = await aresolve(task)
    walk = call.walk(resolved, source=Channel.API, user=None, cancel=None)
    stream = AsyncTaskStream(walk)
    deltas = aiter(stream)
    try:
        first = await anext(deltas, None)
    except asyncio.CancelledError:
        await stream.aclose()
        raise
    return stream, walk, deltas, first


def stream_headers(response: HttpResponse, stream: AsyncTaskStream, walk: Any) -> HttpResponse:
    """Who is answering a stream, known once its first token is in."""
    response["x-aiconfig-request-id"] = str(stream.request_id)
    if walk.current is not None:
        response["x-aiconfig-provider"] = walk.current.route.provider
        response["x-aiconfig-model"] = walk.current.route.model
        fallback = walk.current.position > 0
        response["x-aiconfig-fallback-used"] = "true" if fallback else "false"
    return response
