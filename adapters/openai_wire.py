"""OpenAI's chat wire format: checked bodies, usage, tool-call arguments, messages."""

from __future__ import annotations

import json
from typing import Any

from ._common import (
    ErrorContext,
    int_or_none,
)
from .base import (
    ChatMessage,
    TextResult,
    Usage,
)
from .errors import InvalidRequest, ProviderError


def post_plain_chat(client: Any, body: dict[str, Any], stream_cls: Any = None) -> Any:
    """`client.chat.completions.create(**body)` for a body of plain strings and numbers,
    answered as plain JSON: a dict, or with `stream_cls` a stream of dicts.

    It goes through the SDK client's own `post`, where `create` ends: `create` first
    walks the body through the parameter types (~0.3 ms of the ~1 ms the SDK spends on
    a short request), which changes nothing in such a body; the provider receives the
    same request. The answer is not built into response models either (~75 µs for each
    streamed chunk, most of a gateway stream's CPU): `plain_text_result` and the stream's
    `_ChunkReader` read the few fields we use from the JSON, and the SDK still raises
    its own errors.
    Bodies with caller-supplied parts (tools, schemas) keep `create` and its models.
    `stream_cls` (`openai.Stream` or `openai.AsyncStream`) asks for a stream.
    """
    if stream_cls is None:
        return client.post("/chat/completions", body=body, cast_to=object)
    return client.post(
        "/chat/completions",
        body=body,
        cast_to=object,
        stream=True,
        stream_cls=stream_cls[object],
    )


def json_text(value: object) -> str:
    """A text field of a JSON answer: a string, or nothing (null or absent)."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def plain_text_result(completion: dict[str, Any], *, model: str, latency_ms: float) -> TextResult:
    """The `TextResult` of a plain chat completion read as JSON (`post_plain_chat`);
    a field of the wrong type raises TypeError (the adapter's `reading_response`)."""
    choice = completion["choices"][0]
    return TextResult(
        text=json_text(choice["message"].get("content")),
        model=json_text(completion.get("model")) or model,
        usage=_chat_usage(completion.get("usage")),
        latency_ms=latency_ms,
        finish_reason=json_text(choice.get("finish_reason")) or None,
    )


def _expect[T](ctx: ErrorContext, value: object, cls: type[T]) -> T:
    # The SDK hands back the body as a plain string when it is not JSON (an HTML
    # error page with status 200, say).
    if not isinstance(value, cls):
        raise ctx.unreadable()
    return value


def _chat_usage(usage: Any) -> Usage:
    """Usage as the chat API reports it: a response model's `usage`, or the JSON
    object itself (`post_plain_chat`'s answers). Missing or odd fields read as None."""

    def read(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    if usage is None:
        return Usage()
    # Cached tokens are part of `prompt_tokens` and reasoning tokens part of
    # `completion_tokens`, which is our convention already: no arithmetic here.
    prompt_details = read(usage, "prompt_tokens_details")
    completion_details = read(usage, "completion_tokens_details")
    return Usage(
        input_tokens=int_or_none(read(usage, "prompt_tokens")),
        output_tokens=int_or_none(read(usage, "completion_tokens")),
        cache_read_tokens=int_or_none(read(prompt_details, "cached_tokens")),
        reasoning_tokens=int_or_none(read(completion_details, "reasoning_tokens")),
    )


def _decode_arguments(ctx: ErrorContext, raw: str | None, name: str) -> dict[str, Any]:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ctx.make(ProviderError, f"returned unreadable arguments for tool {name!r}") from exc
    if not isinstance(value, dict):
        raise ctx.make(ProviderError, f"returned non-object arguments for tool {name!r}")
    return value


def _message_to_wire(ctx: ErrorContext, message: ChatMessage) -> dict[str, Any]:
    if message.role in ("system", "user"):
        return {"role": message.role, "content": message.content}
    if message.role == "assistant":
        wire: dict[str, Any] = {"role": "assistant", "content": message.content or None}
        if message.tool_calls:
            wire["tool_calls"] = [
                {
                    "id": call.id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
                }
                for call in message.tool_calls
            ]
        elif wire["content"] is None:
            wire["content"] = ""
        return wire
    if message.role == "tool":
        if not message.tool_call_id:
            raise ctx.make(InvalidRequest, "a tool message needs the tool_call_id it answers")
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    raise ctx.make(InvalidRequest, f"unsupported message role {message.role!r}")
