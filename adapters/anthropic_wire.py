"""The Anthropic Messages API's shapes: requests out, messages and usage in.

Plain mapping between our requests/results and Anthropic's wire format, used by
`anthropic_adapter` (whole answers) and `anthropic_stream` (streamed text).
"""

from __future__ import annotations

from typing import Any

from anthropic.types import Message

from ._common import ErrorContext, int_or_none
from .base import ChatMessage, Usage
from .errors import InvalidRequest, ProviderError

# The Messages API insists on max_tokens; this is what we ask for when the caller doesn't say.
DEFAULT_MAX_TOKENS = 1024

_STOP_REASONS = {
    "end_turn": "end",
    "stop_sequence": "end",
    "tool_use": "tool_calls",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
}
_TOOL_CHOICES: dict[str, dict[str, str]] = {
    "auto": {"type": "auto"},
    "required": {"type": "any"},
    "none": {"type": "none"},
}
# Tool input schemas must describe an object; other schemas are wrapped in one.
_WRAP_KEY = "result"


def _max_tokens(value: int | None) -> int:
    return DEFAULT_MAX_TOKENS if value is None else value


def _expect_message(ctx: ErrorContext, value: object) -> Message:
    # The SDK returns the raw text when the body is not JSON (e.g. an HTML page).
    if not isinstance(value, Message):
        raise ctx.unreadable()
    return value


def _joined_text(message: Message) -> str:
    return "".join(block.text for block in message.content if block.type == "text")


def _usage(usage: Any) -> Usage:
    if usage is None:
        return Usage()
    return _anthropic_usage(
        input_tokens=int_or_none(getattr(usage, "input_tokens", None)),
        output_tokens=int_or_none(getattr(usage, "output_tokens", None)),
        cache_read=int_or_none(getattr(usage, "cache_read_input_tokens", None)),
        cache_write=int_or_none(getattr(usage, "cache_creation_input_tokens", None)),
    )


def _anthropic_usage(
    *,
    input_tokens: int | None,
    output_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None,
) -> Usage:
    """Anthropic's counts in our convention: `input_tokens` including the cached ones.

    Anthropic reports cache reads and writes *on top of* `input_tokens` (which counts
    only the uncached rest); priced as reported, a mostly cached prompt would cost a
    fraction of what is billed.
    """
    total = input_tokens
    if total is not None:
        total += (cache_read or 0) + (cache_write or 0)
    return Usage(
        input_tokens=total,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


def _tool_input(ctx: ErrorContext, block: Any) -> dict[str, Any]:
    value = block.input
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ctx.make(ProviderError, f"returned non-object input for tool {block.name!r}")
    return dict(value)


def _object_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema itself if it describes an object, else an object wrapping it."""
    if schema.get("type") == "object" or ("properties" in schema and "type" not in schema):
        return schema, False
    inner = dict(schema)
    wrapper: dict[str, Any] = {"type": "object", "required": [_WRAP_KEY]}
    # `$ref`s point at the root, so the definitions move up to the wrapper.
    for defs_key in ("$defs", "definitions"):
        if defs_key in inner:
            wrapper[defs_key] = inner.pop(defs_key)
    wrapper["properties"] = {_WRAP_KEY: inner}
    return wrapper, True


def _messages_to_wire(
    ctx: ErrorContext, messages: tuple[ChatMessage, ...]
) -> tuple[str, list[dict[str, Any]]]:
    """Split out the system prompt and turn the rest into Anthropic content blocks.

    Consecutive same-role turns are merged, so a run of tool results becomes one
    user message of tool_result blocks, as the API expects.
    """
    system_parts: list[str] = []
    wire: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if wire and wire[-1]["role"] == role:
            wire[-1]["content"].extend(blocks)
        else:
            wire.append({"role": role, "content": blocks})

    for message in messages:
        if message.role == "system":
            if message.content:
                system_parts.append(message.content)
        elif message.role == "user":
            if message.content:
                add("user", [{"type": "text", "text": message.content}])
        elif message.role == "assistant":
            blocks: list[dict[str, Any]] = []
            if message.content:
                blocks.append({"type": "text", "text": message.content})
            blocks.extend(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": call.arguments}
                for call in message.tool_calls
            )
            # The API rejects empty assistant turns.
            if blocks:
                add("assistant", blocks)
        elif message.role == "tool":
            if not message.tool_call_id:
                raise ctx.make(InvalidRequest, "a tool message needs the tool_call_id it answers")
            add(
                "user",
                [
                    {
                        "type": "tool_result",
                        "tool_use_id": message.tool_call_id,
                        "content": message.content,
                    }
                ],
            )
        else:
            raise ctx.make(InvalidRequest, f"unsupported message role {message.role!r}")
    return "\n\n".join(system_parts), wire
