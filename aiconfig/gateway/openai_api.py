"""OpenAI-compatible endpoints: `/v1/chat/completions`, `/v1/models`, `/v1/images/generations`.

`model` is a task's name. A plain conversation (system and user messages) runs as
text, streamed token by token when asked; tools or an earlier assistant turn run as
a chat turn (`achat`); `response_format` with a JSON schema runs as structured
output, validated against it. Whatever the path, the task's chain and fallbacks
apply and every attempt is logged with source `api` and the token's name.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt

from aiconfig.exceptions import AIConfigError, UnknownTask
from aiconfig.gateway.access import Grant, authorize, presented_secret
from aiconfig.gateway.errors import GatewayError, bad_request, openai_error, task_failed
from aiconfig.models import Channel
from aiconfig.services.calls import (
    AsyncTaskStream,
    TaskFailed,
    TaskRun,
    achat,
    agenerate_image,
    agenerate_structured,
    agenerate_text,
)
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.log import API_TOKEN
from aiconfig.services.calls.plan import resolve

logger = logging.getLogger("aiconfig.gateway")

View = Callable[[HttpRequest, Grant, dict[str, Any]], Awaitable[HttpResponse]]
Refuse = Callable[[GatewayError], HttpResponse]


# --- plumbing shared by the endpoints ---------------------------------------------------


def parse_body(request: HttpRequest) -> dict[str, Any]:
    """The JSON object the request carries; anything else is a 400."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise GatewayError(
            413,
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE).",
            code="request_too_large",
        ) from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(
            400, "The request body is not valid JSON.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def endpoint(method: str, *, refuse: Refuse = openai_error, needs_task: bool = True) -> Any:
    """A gateway view: open to token holders only (no session, no CSRF), errors in format.

    The token's name is put in the request's context, where the call log reads it.
    """

    def decorate(view: View) -> Any:
        async def wrapped(request: HttpRequest) -> HttpResponse:
            try:
                if request.method != method:
                    raise GatewayError(
                        405, f"Use {method} for {request.path}.", code="method_not_allowed"
                    )
                body = parse_body(request) if method == "POST" else {}
                task = body.get("model") if needs_task else None
                if needs_task and (not isinstance(task, str) or not task):
                    raise bad_request("model", "'model' is required: the name of a task.")
                grant = await sync_to_async(authorize)(secret=presented_secret(request), task=task)
                # Calls started in the view read it; the thread runserver lends us must
                # not keep it afterwards (async_to_sync copies context changes back).
                reset = API_TOKEN.set(grant.token)
                try:
                    return await view(request, grant, body)
                finally:
                    API_TOKEN.reset(reset)
            except GatewayError as error:
                return refuse(error)
            except TaskFailed as failed:
                if failed.cancelled:
                    return refuse(GatewayError(499, "The request was cancelled.", type="cancelled"))
                return refuse(task_failed(failed))
            except UnknownTask as unknown:
                # Removed between the token check and the call.
                return refuse(
                    GatewayError(
                        404,
                        f"The model '{unknown.task}' does not exist.",
                        code="model_not_found",
                        param="model",
                    )
                )
            except AIConfigError as error:
                # The task exists but its output kind does not fit this endpoint.
                return refuse(bad_request("model", str(error)))
            except Exception:
                # No traceback or internal detail for the client; the server log has it.
                logger.exception("Gateway request to %s failed", request.path)
                return refuse(GatewayError(500, "Internal error in the gateway.", type="api_error"))

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return login_not_required(csrf_exempt(wrapped))

    return decorate


def run_headers(response: HttpResponse, run: TaskRun) -> HttpResponse:
    """Who answered: our request id, the provider and model, whether a fallback did."""
    response["x-aiconfig-request-id"] = str(run.request_id)
    response["x-aiconfig-provider"] = run.provider
    response["x-aiconfig-model"] = run.model
    response["x-aiconfig-fallback-used"] = "true" if run.fallback_used else "false"
    return response


def _usage(run: TaskRun) -> dict[str, int]:
    prompt = run.input_tokens or 0
    completion = run.output_tokens or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


# --- chat completions: the request --------------------------------------------------------


@dataclass
class ChatParams:
    """A chat completion request, checked field by field."""

    task: str
    system: list[str] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    plain: bool = True  # only system and user messages: a text call
    tools: list[dict[str, Any]] = field(default_factory=list)
    tool_choice: str = "auto"
    schema: dict[str, Any] | None = None
    schema_name: str = "result"
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    include_usage: bool = False

    @property
    def prompt(self) -> str:
        """The conversation as one prompt (for text and structured calls)."""
        users = [m["content"] for m in self.messages if m["role"] == "user"]
        if self.plain:
            return "\n\n".join(users)
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in self.messages)


def _text(content: Any, param: str) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        parts = []
        for i, part in enumerate(content):
            if not isinstance(part, dict) or part.get("type") != "text":
                raise bad_request(f"{param}[{i}]", "Only text content parts are supported.")
            parts.append(str(part.get("text", "")))
        return "".join(parts)
    raise bad_request(param, "Message content must be a string or a list of text parts.")


def _tool_call(value: Any, param: str) -> dict[str, Any]:
    function = value.get("function") if isinstance(value, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_request(param, "A tool call needs an id and a function with a name.")
    try:
        arguments = json.loads(function.get("arguments") or "{}")
    except (TypeError, ValueError):
        arguments = None
    if not isinstance(arguments, dict):
        raise bad_request(f"{param}.function.arguments", "Arguments must be a JSON object.")
    return {"id": str(value.get("id", "")), "name": function["name"], "arguments": arguments}


def _messages(params: ChatParams, raw: Any) -> None:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages", "'messages' must be a non-empty list of messages.")
    for i, message in enumerate(raw):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise bad_request(param, "Each message must be an object with a role.")
        role = message.get("role")
        content = _text(message.get("content"), f"{param}.content")
        if role in ("system", "developer"):
            params.system.append(content)
            params.messages.append({"role": "system", "content": content})
        elif role == "user":
            params.messages.append({"role": "user", "content": content})
        elif role == "assistant":
            params.plain = False
            calls = message.get("tool_calls") or []
            if not isinstance(calls, list):
                raise bad_request(f"{param}.tool_calls", "'tool_calls' must be a list.")
            params.messages.append(
                {
                    "role": "assistant",
                    "content": content,
                    "tool_calls": [
                        _tool_call(c, f"{param}.tool_calls[{j}]") for j, c in enumerate(calls)
                    ],
                }
            )
        elif role == "tool":
            params.plain = False
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad_request(f"{param}.tool_call_id", "A tool message needs tool_call_id.")
            params.messages.append({"role": "tool", "content": content, "tool_call_id": call_id})
        else:
            raise bad_request(
                f"{param}.role", f"Unknown role {role!r}: use system, user, assistant or tool."
            )
    if not any(m["role"] == "user" for m in params.messages):
        raise bad_request("messages", "The conversation needs at least one user message.")


def _tools(params: ChatParams, body: dict[str, Any]) -> None:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise bad_request("tools", "'tools' must be a list of function tools.")
    for i, tool in enumerate(raw):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"tools[{i}]", "Each tool must be a function with a name.")
        params.tools.append(
            {
                "name": function["name"],
                "description": str(function.get("description") or ""),
                "parameters": function.get("parameters") or {"type": "object", "properties": {}},
            }
        )
    choice = body.get("tool_choice")
    if choice is None:
        return
    if choice in ("auto", "required", "none"):
        params.tool_choice = choice
        return
    name = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    chosen = [t for t in params.tools if t["name"] == name]
    if not chosen:
        raise bad_request(
            "tool_choice", "tool_choice must be auto, required, none or one of the tools."
        )
    # A named function: that tool alone, and it must be called.
    params.tools, params.tool_choice = chosen, "required"


def _response_format(params: ChatParams, raw: Any) -> None:
    if raw is None:
        return
    kind = raw.get("type") if isinstance(raw, dict) else None
    if kind == "text":
        return
    if kind == "json_object":
        params.schema = {"type": "object"}
        return
    spec = raw.get("json_schema") if kind == "json_schema" else None
    if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
        raise bad_request(
            "response_format",
            "response_format must be text, json_object, or json_schema with a schema.",
        )
    params.schema = spec["schema"]
    params.schema_name = str(spec.get("name") or "result")


def number_field(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise bad_request(name, f"'{name}' must be a number from {low:g} to {high:g}.")
    return float(value)


def chat_params(body: dict[str, Any]) -> ChatParams:
    """Check a chat completion request; a 400 names the first field at fault."""
    params = ChatParams(task=body["model"])
    _messages(params, body.get("messages"))
    _tools(params, body)
    _response_format(params, body.get("response_format"))
    params.temperature = number_field(body, "temperature", 0, 2)
    for name in ("max_completion_tokens", "max_tokens"):
        value = number_field(body, name, 1, 10_000_000)
        if value is not None:
            params.max_tokens = int(value)
            break
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream", "'stream' must be true or false.")
    params.stream = stream
    options = body.get("stream_options") or {}
    if not isinstance(options, dict):
        raise bad_request("stream_options", "'stream_options' must be an object.")
    params.include_usage = bool(options.get("include_usage"))
    n = body.get("n")
    if n not in (None, 1):
        raise bad_request("n", "Only n=1 is supported.")
    return params


# --- chat completions: the answer --------------------------------------------------------


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


def _message(run: TaskRun, content: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content or None}
    if run.tool_calls:
        message["tool_calls"] = _wire_tool_calls(run)
    else:
        message["content"] = content
    return message


@endpoint("POST")
async def chat_completions(request: HttpRequest, grant: Grant, body: dict[str, Any]) -> Any:
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


def sse_response(chunks: AsyncIterator[bytes]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy in front must not hold chunks back
    return response


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
    resolved = await sync_to_async(resolve)(task)
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
            yield _sse(_chunk(cid, task, {"role": "assistant", "content": ""}, None))
            if first is not None:
                yield _sse(_chunk(cid, task, {"content": first}, None))
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
async def models(request: HttpRequest, grant: Grant, body: dict[str, Any]) -> Any:
    """`GET /v1/models`: the tasks this token may call, as models."""
    data = [
        {"id": task, "object": "model", "created": 0, "owned_by": "aiconfig"}
        for task in grant.tasks
    ]
    return JsonResponse({"object": "list", "data": data})


_SIZES = {"256x256", "512x512", "1024x1024", "1536x1024", "1024x1536", "1792x1024", "1024x1792"}


@endpoint("POST")
async def images(request: HttpRequest, grant: Grant, body: dict[str, Any]) -> Any:
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
async def not_found(request: HttpRequest) -> HttpResponse:
    """Any other path under /v1/: OpenAI's 404 shape (no token needed to learn that)."""
    return openai_error(
        GatewayError(404, f"Unknown endpoint: {request.method} {request.path}.", code="not_found")
    )
