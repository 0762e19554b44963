"""A chat request, checked field by field: the conversation both wire formats build.

The OpenAI endpoint parses its body with `chat_params`; the Anthropic endpoint
fills the same `ChatParams` from its own shapes, so both run the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiconfig.gateway.errors import bad_request


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
