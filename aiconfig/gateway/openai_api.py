"""OpenAI-compatible endpoints: `/v1/chat/completions`, `/v1/models`, `/v1/images/generations`.

`model` is a task's name. A plain conversation (system and user messages) runs as
text, streamed token by token when asked; tools or an earlier assistant turn run as
a chat turn (`achat`); `response_format` with a JSON schema runs as structured
output, validated against it. Whatever the path, the task's chain and fallbacks
apply and every attempt is logged with source `api` and the token's name.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from aiconfig.gateway.access import Grant
from aiconfig.gateway.chat_request import ChatParams, chat_params
from aiconfig.gateway.endpoint import endpoint
from aiconfig.gateway.errors import GatewayError, bad_request, openai_error, task_failed
from aiconfig.gateway.running import (
    open_stream,
    run_chat,
    run_headers,
    sse_response,
    stream_headers,
)
from aiconfig.gateway.wire import WireRequest
from aiconfig.models import Channel
from aiconfig.services.calls import TaskFailed, TaskRun, agenerate_image

# --- chat completions ---------------------------------------------------------------------


def _usage(run: TaskRun) -> dict[str, int]:
    prompt = run.input_tokens or 0
    completion = run.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _completion_id(run_id: Any) -> str:
    return f"chatcmpl-{run_id.hex}"


def _wire_tool_calls(run: TaskRun) -> list[dict[str, Any]]:
    return [
        {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        for call in run.tool_calls
    ]


def _message(run: TaskRun, content: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if run.tool_calls:
        message["tool_calls"] = _wire_tool_calls(run)
    else:
        message["content"] = content
    return message


@endpoint("POST")
async def chat_completions(request: WireRequest, grant: Grant, body: dict[str, Any]) -> Any:
    """`POST /v1/chat/completions`: one answer, or SSE chunks ending with `data: [DONE]`."""
    params = chat_params(body)
    if params.stream and params.plain and not params.tools and params.schema is None:
        return await _token_stream(params)
    run, content = await run_chat(params)
    finish = "tool_calls" if run.tool_calls else "stop"
    if params.stream:
        return _whole_as_stream(params, run, content, finish)
    answer = {
        "id": _completion_id(run.request_id),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": params.task,
        "choices": [{"index": 0, "message": _message(run, content), "finish_reason": finish}],
        "usage": _usage(run),
    }
    return run_headers(JsonResponse(answer), run)


def _sse(data: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(data, separators=(",", ":")).encode() + b"\n\n"


_DONE = b"data: [DONE]\n\n"


def _chunk(cid: str, task: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": task,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _usage_chunk(cid: str, task: str, run: TaskRun | None) -> dict[str, Any]:
    return {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": task,
        "choices": [],
        "usage": _usage(run) if run else None,
    }


def _whole_as_stream(
    params: ChatParams, run: TaskRun, content: str, finish: str
) -> StreamingHttpResponse:
    """A tool turn or structured answer for a client that asked to stream: one chunk."""
    cid = _completion_id(run.request_id)
    delta: dict[str, Any] = {"role": "assistant", "content": content or None}
    if run.tool_calls:
        delta["tool_calls"] = [{"index": i, **c} for i, c in enumerate(_wire_tool_calls(run))]

    async def chunks() -> AsyncIterator[bytes]:
        yield _sse(_chunk(cid, params.task, delta, None))
        yield _sse(_chunk(cid, params.task, {}, finish))
        if params.include_usage:
            yield _sse(_usage_chunk(cid, params.task, run))
        yield _DONE

    return run_headers(sse_response(chunks()), run)


async def _token_stream(params: ChatParams) -> StreamingHttpResponse:
    stream, walk, deltas, first = await open_stream(
        task=params.task,
        prompt=params.prompt,
        system="\n\n".join(params.system) or None,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
    )
    cid = _completion_id(stream.request_id)
    task = params.task

    async def chunks() -> AsyncIterator[bytes]:
        # A client that hangs up cancels this generator: the stream below is closed,
        # which closes the provider's connection and logs the attempt `cancelled`.
        try:
            # The opening chunk and the first token (already in) go out in one write.
            opening = _sse(_chunk(cid, task, {"role": "assistant", "content": ""}, None))
            if first is None:
                yield opening
            else:
                yield opening + _sse(_chunk(cid, task, {"content": first}, None))
                async for delta in deltas:
                    yield _sse(_chunk(cid, task, {"content": delta}, None))
        except TaskFailed as failed:
            error = task_failed(failed)
            yield _sse(
                {
                    "error": {
                        "message": error.message,
                        "type": error.type,
                        "code": error.code,
                        "param": None,
                    }
                }
            )
            return
        finally:
            await stream.aclose()
        yield _sse(_chunk(cid, task, {}, "stop"))
        if params.include_usage:
            yield _sse(_usage_chunk(cid, task, stream.run))
        yield _DONE

    return stream_headers(sse_response(chunks()), stream, walk)


# --- models and images ------------------------------------------------------------------


@endpoint("GET", needs_task=False)
async def models(request: WireRequest, grant: Grant, body: dict[str, Any]) -> Any:
    """`GET /v1/models`: the tasks this token may call, as models."""
    data = [
        {"id": task, "object": "model", "created": 0, "owned_by": "aiconfig"}
        for task in grant.tasks
    ]
    return JsonResponse({"object": "list", "data": data})


_SIZES = {"256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"}


@endpoint("POST")
async def images(request: WireRequest, grant: Grant, body: dict[str, Any]) -> Any:
    """`POST /v1/images/generations`: images from an image task, as `b64_json`."""
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise bad_request("prompt", "'prompt' is required: what the image shows.")
    size = body.get("size") or "1024x1024"
    if size not in _SIZES:
        raise bad_request("size", f"'size' must be one of {', '.join(sorted(_SIZES))}.")
    n = body.get("n", 1)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10:
        raise bad_request("n", "'n' must be a whole number from 1 to 10.")
    if body.get("response_format") not in (None, "b64_json"):
        raise bad_request("response_format", "Only response_format b64_json is supported.")
    quality = body.get("quality")
    run = await agenerate_image(
        prompt=prompt,
        task=body["model"],
        size=size,
        quality=quality if isinstance(quality, str) else None,
        n=n,
        source=Channel.API,
    )
    data = [
        {
            "b64_json": base64.b64encode(image.data).decode(),
            **({"revised_prompt": image.revised_prompt} if image.revised_prompt else {}),
        }
        for image in run.images
    ]
    return run_headers(JsonResponse({"created": int(time.time()), "data": data}), run)


@login_not_required
@csrf_exempt
async def not_found(request: WireRequest) -> HttpResponse:
    """Any other path under /v1/: OpenAI's 404 shape (no token needed to learn that)."""
    return openai_error(
        GatewayError(404, f"Unknown endpoint: {request.method} {request.path}.", code="not_found")
    )
