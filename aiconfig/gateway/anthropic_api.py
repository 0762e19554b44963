"""Anthropic-compatible `POST /v1/messages`, so Anthropic SDK users switch by base URL too.

The request is translated to the same conversation the OpenAI endpoint builds and
runs on the same paths (text, streamed text, a chat turn with tools, structured
output is not part of Anthropic's API); answers and errors are Anthropic's shapes
and SSE events. The token comes as `x-api-key` (what the SDK sends) or a Bearer.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from django.http import JsonResponse, StreamingHttpResponse

from aiconfig.gateway.access import Grant
from aiconfig.gateway.chat_request import ChatParams, number_field
from aiconfig.gateway.endpoint import endpoint
from aiconfig.gateway.errors import anthropic_error, bad_request, task_failed
from aiconfig.gateway.running import (
    open_stream,
    run_chat,
    run_headers,
    sse_response,
    stream_headers,
)
from aiconfig.gateway.wire import WireRequest
from aiconfig.services.calls import TaskFailed, TaskRun

_CHOICES = {"auto": "auto", "any": "required", "none": "none"}


def _blocks(content: Any, param: str) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise bad_request(param, "Content must be a string or a list of content blocks.")
    for i, block in enumerate(content):
        if not isinstance(block, dict) or block.get("type") not in (
            "text",
            "tool_use",
            "tool_result",
        ):
            raise bad_request(f"{param}[{i}]", "Only text, tool_use and tool_result blocks.")
    return content


def _text_of(blocks: list[dict[str, Any]]) -> str:
    return "".join(str(b.get("text", "")) for b in blocks if b.get("type") == "text")


def _system(params: ChatParams, raw: Any) -> None:
    if raw is None:
        return
    text = _text_of(_blocks(raw, "system"))
    params.system.append(text)
    params.messages.append({"role": "system", "content": text})


def _conversation(params: ChatParams, raw: Any) -> None:
    if not isinstance(raw, list) or not raw:
        raise bad_request("messages", "'messages' must be a non-empty list of messages.")
    for i, message in enumerate(raw):
        param = f"messages.{i}"
        role = message.get("role") if isinstance(message, dict) else None
        if role not in ("user", "assistant"):
            raise bad_request(f"{param}.role", "Each message's role must be user or assistant.")
        blocks = _blocks(message.get("content"), f"{param}.content")
        if role == "assistant":
            params.plain = False
            calls = [
                {"id": str(b.get("id", "")), "name": str(b.get("name", "")),
                 "arguments": b.get("input") if isinstance(b.get("input"), dict) else {}}
                for b in blocks if b.get("type") == "tool_use"
            ]  # fmt: skip
            params.messages.append(
                {"role": "assistant", "content": _text_of(blocks), "tool_calls": calls}
            )
            continue
        for block in blocks:
            if block.get("type") == "tool_result":
                params.plain = False
                result = block.get("content")
                text = result if isinstance(result, str) else _text_of(_blocks(result or [], param))
                params.messages.append(
                    {"role": "tool", "content": text,
                     "tool_call_id": str(block.get("tool_use_id", ""))}
                )  # fmt: skip
        text = _text_of(blocks)
        if text or not any(b.get("type") == "tool_result" for b in blocks):
            params.messages.append({"role": "user", "content": text})
    if not any(m["role"] == "user" for m in params.messages):
        raise bad_request("messages", "The conversation needs at least one user message.")


def _tools(params: ChatParams, body: dict[str, Any]) -> None:
    raw = body.get("tools") or []
    if not isinstance(raw, list):
        raise bad_request("tools", "'tools' must be a list.")
    for i, tool in enumerate(raw):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise bad_request(f"tools.{i}", "Each tool needs a name and an input_schema.")
        params.tools.append(
            {
                "name": tool["name"],
                "description": str(tool.get("description") or ""),
                "parameters": tool.get("input_schema") or {"type": "object", "properties": {}},
            }
        )
    choice = body.get("tool_choice")
    if choice is None:
        return
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in _CHOICES:
        params.tool_choice = _CHOICES[kind]
        return
    chosen = [t for t in params.tools if kind == "tool" and t["name"] == choice.get("name")]
    if not chosen:
        raise bad_request("tool_choice", "tool_choice must be auto, any, none or one tool.")
    params.tools, params.tool_choice = chosen, "required"


def messages_params(body: dict[str, Any]) -> ChatParams:
    """Check a Messages API request; a 400 names the first field at fault."""
    params = ChatParams(task=body["model"])
    _system(params, body.get("system"))
    _conversation(params, body.get("messages"))
    _tools(params, body)
    params.temperature = number_field(body, "temperature", 0, 1)
    tokens = number_field(body, "max_tokens", 1, 10_000_000)
    params.max_tokens = int(tokens) if tokens is not None else None
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise bad_request("stream", "'stream' must be true or false.")
    params.stream = stream
    return params


def _message_id(run_id: Any) -> str:
    return f"msg_{run_id.hex}"


def _content(run: TaskRun, text: str) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    blocks += [
        {"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
        for c in run.tool_calls
    ]
    return blocks


def _usage(run: TaskRun | None) -> dict[str, int]:
    return {
        "input_tokens": (run.input_tokens or 0) if run else 0,
        "output_tokens": (run.output_tokens or 0) if run else 0,
    }


def _event(name: str, data: dict[str, Any]) -> bytes:
    payload = json.dumps({"type": name, **data}, separators=(",", ":"))
    return f"event: {name}\ndata: {payload}\n\n".encode()


def _start(mid: str, task: str) -> bytes:
    message = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": task,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 0, "output_tokens": 0},
    }
    return _event("message_start", {"message": message})


def _end(stop: str, run: TaskRun | None) -> list[bytes]:
    return [
        _event(
            "message_delta",
            {"delta": {"stop_reason": stop, "stop_sequence": None}, "usage": _usage(run)},
        ),
        _event("message_stop", {}),
    ]


@endpoint("POST", refuse=anthropic_error)
async def messages(request: WireRequest, grant: Grant, body: dict[str, Any]) -> Any:
    """`POST /v1/messages`: one message, or Anthropic's SSE events when `stream` is true."""
    params = messages_params(body)
    if params.stream and params.plain and not params.tools:
        return await _token_stream(params)
    run, text = await run_chat(params)
    stop = "tool_use" if run.tool_calls else "end_turn"
    if params.stream:
        return _whole_as_stream(params, run, text, stop)
    answer = {
        "id": _message_id(run.request_id),
        "type": "message",
        "role": "assistant",
        "model": params.task,
        "content": _content(run, text),
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": _usage(run),
    }
    return run_headers(JsonResponse(answer), run)


def _whole_as_stream(
    params: ChatParams, run: TaskRun, text: str, stop: str
) -> StreamingHttpResponse:
    """A tool turn for a client that asked to stream: each block as one event run."""
    mid = _message_id(run.request_id)

    async def events() -> AsyncIterator[bytes]:
        yield _start(mid, params.task)
        for index, block in enumerate(_content(run, text)):
            if block["type"] == "text":
                yield _event("content_block_start", {"index": index,
                             "content_block": {"type": "text", "text": ""}})  # fmt: skip
                delta = {"type": "text_delta", "text": block["text"]}
            else:
                yield _event("content_block_start", {"index": index,
                             "content_block": {**block, "input": {}}})  # fmt: skip
                delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
            yield _event("content_block_delta", {"index": index, "delta": delta})
            yield _event("content_block_stop", {"index": index})
        for event in _end(stop, run):
            yield event

    return run_headers(sse_response(events()), run)


async def _token_stream(params: ChatParams) -> StreamingHttpResponse:
    stream, walk, deltas, first = await open_stream(
        task=params.task,
        prompt=params.prompt,
        system="\n\n".join(params.system) or None,
        max_tokens=params.max_tokens,
        temperature=params.temperature,
    )
    mid = _message_id(stream.request_id)

    async def events() -> AsyncIterator[bytes]:
        # A client that hangs up cancels this generator, closing the provider's stream.
        try:
            # The opening events and the first token (already in) go out in one write:
            # one wake-up of the client instead of three.
            opening = _start(mid, params.task) + _event("content_block_start", {"index": 0,
                      "content_block": {"type": "text", "text": ""}})  # fmt: skip
            if first is None:
                yield opening
            else:
                yield opening + _event("content_block_delta", {"index": 0,
                                       "delta": {"type": "text_delta", "text": first}})  # fmt: skip
                async for delta in deltas:
                    yield _event("content_block_delta", {"index": 0,
                                 "delta": {"type": "text_delta", "text": delta}})  # fmt: skip
        except TaskFailed as failed:
            error = task_failed(failed)
            yield _event("error", {"error": {"type": "api_error", "message": error.message}})
            return
        finally:
            await stream.aclose()
        yield _event("content_block_stop", {"index": 0})
        for event in _end("end_turn", stream.run):
            yield event

    return stream_headers(sse_response(events()), stream, walk)
