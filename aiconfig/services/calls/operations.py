"""The public calls, blocking and async: each builds its request and hands it to the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jsonschema

from adapters import (
    CancelToken,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ImageRequest,
    ImageResult,
    Result,
    StructuredRequest,
    StructuredResult,
    TextRequest,
    TextResult,
    ToolCall,
    ToolSpec,
)
from aiconfig.models import OutputKind
from aiconfig.services.calls.aloop import arun
from aiconfig.services.calls.log_later import afinish
from aiconfig.services.calls.loop import Operation, Walk, run_and_log
from aiconfig.services.calls.plan import aresolve, check_kind, resolve
from aiconfig.services.calls.results import InvalidOutput, Slide, TaskFailed, TaskRun
from aiconfig.services.history import User
from aiconfig.snapshots import TaskConfig

TEXT_KINDS = (OutputKind.TEXT, OutputKind.TOOLS, OutputKind.STRUCTURED)

SLIDES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "slides": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "image_prompt": {"type": "string", "minLength": 1},
                    "narration": {"type": "string", "minLength": 1},
                },
                "required": ["image_prompt", "narration"],
            },
        }
    },
    "required": ["slides"],
}
SLIDES_SYSTEM = (
    "You write short video slide decks. Return slides, each with an image_prompt "
    "(what the slide's picture shows) and narration (what the voice-over says)."
)


@dataclass(frozen=True, slots=True)
class Call:
    """A call before it runs: the task, the shapes it accepts, and the operation."""

    task: str
    kinds: tuple[str, ...]
    operation: Operation
    prompt: str

    def walk(
        self,
        resolved: tuple[Any, TaskConfig],
        *,
        source: str,
        user: User,
        cancel: CancelToken | None,
    ) -> Walk:
        """The walk along the task's plan for this call."""
        snapshot, config = resolved
        check_kind(config, *self.kinds)
        return Walk(
            snapshot=snapshot,
            config=config,
            operation=self.operation,
            source=source,
            user=user,
            prompt=self.prompt,
            cancel=cancel,
        )


def with_answer(task_run: TaskRun, result: Result) -> TaskRun:
    """The run with the answer itself in the field its shape calls for."""
    match result:
        case TextResult():
            return replace(task_run, text=result.text)
        case ImageResult():
            return replace(task_run, images=result.images)
        case StructuredResult():
            return replace(task_run, data=result.data)
        case ChatResult():
            message = result.message
            return replace(
                task_run, message=message, text=message.content, tool_calls=message.tool_calls
            )
    return task_run


def blocking(call: Call, *, source: str, user: User, cancel: CancelToken | None) -> TaskRun:
    """Run a call with blocking I/O."""
    walk = call.walk(resolve(call.task), source=source, user=user, cancel=cancel)
    result, task_run = run_and_log(walk)
    return with_answer(task_run, result)


async def awaited(call: Call, *, source: str, user: User) -> TaskRun:
    """Run a call on the async clients; database work happens off the event loop."""
    walk = call.walk(await aresolve(call.task), source=source, user=user, cancel=None)
    try:
        result, task_run = await arun(walk)
    except TaskFailed as failed:
        failed.log_error = await afinish(walk.finish)
        raise
    except asyncio.CancelledError:
        await asyncio.shield(afinish(walk.finish))
        raise
    log_error = await afinish(walk.finish)
    return with_answer(replace(task_run, log_error=log_error) if log_error else task_run, result)


# --- the calls -------------------------------------------------------------------------


def text_call(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
) -> Call:
    """Text for a prompt (also what a stream asks for)."""
    request = TextRequest(
        model="", prompt=prompt, system=system, max_tokens=max_tokens, temperature=temperature
    )
    return Call(task, TEXT_KINDS, Operation("text", "generate_text", request), prompt)


def image_call(
    *,
    prompt: str,
    task: str = "image",
    size: str = "1024x1024",
    quality: str | None = None,
    n: int = 1,
) -> Call:
    """Images for a prompt; an answer without images is a failure."""

    def check(result: Any) -> None:
        if not result.images:
            raise InvalidOutput("the provider returned no image", provider=result.model)

    request = ImageRequest(model="", prompt=prompt, size=size, quality=quality, n=n)
    operation = Operation(
        "image", "generate_image", request, check=check, image_size=size, image_quality=quality
    )
    return Call(task, (OutputKind.IMAGE,), operation, prompt)


def structured_call(
    *,
    prompt: str,
    schema: Mapping[str, Any],
    task: str = "video-slides",
    schema_name: str = "result",
    system: str | None = None,
    max_tokens: int | None = None,
) -> Call:
    """JSON that must validate against `schema`; an answer that doesn't is a failure."""
    schema = dict(schema)
    validator = jsonschema.Draft202012Validator(schema)

    def check(result: Any) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(result.data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the top level"
            raise InvalidOutput(
                f"answer does not match the schema at {where}: {error.message[:200]}",
                provider=result.model,
            )

    request = StructuredRequest(
        model="",
        prompt=prompt,
        schema=schema,
        schema_name=schema_name,
        system=system,
        max_tokens=max_tokens,
    )
    operation = Operation("structured", "generate_structured", request, check=check)
    return Call(task, (OutputKind.STRUCTURED, OutputKind.TOOLS), operation, prompt)


def slides_call(*, prompt: str, task: str = "video-slides") -> Call:
    """The `video-slides` shape: slides with an image prompt and narration each."""
    return structured_call(
        prompt=prompt, schema=SLIDES_SCHEMA, task=task, schema_name="slides", system=SLIDES_SYSTEM
    )


def with_slides(task_run: TaskRun) -> TaskRun:
    """A structured run of the slides schema, with its slides parsed out."""
    data: Any = task_run.data
    slides = tuple(
        Slide(image_prompt=s["image_prompt"], narration=s["narration"]) for s in data["slides"]
    )
    return replace(task_run, slides=slides)


def _message(value: ChatMessage | Mapping[str, Any]) -> ChatMessage:
    if isinstance(value, ChatMessage):
        return value
    calls = tuple(
        c if isinstance(c, ToolCall) else ToolCall(c["id"], c["name"], dict(c["arguments"]))
        for c in value.get("tool_calls", ())
    )
    return ChatMessage(
        role=value["role"],
        content=value.get("content") or "",
        tool_calls=calls,
        tool_call_id=value.get("tool_call_id"),
    )


def _tool(value: ToolSpec | Mapping[str, Any]) -> ToolSpec:
    if isinstance(value, ToolSpec):
        return value
    return ToolSpec(
        name=value["name"],
        description=value.get("description", ""),
        parameters=dict(value.get("parameters") or {"type": "object", "properties": {}}),
    )


def chat_call(
    *,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    tools: Sequence[ToolSpec | Mapping[str, Any]] = (),
    task: str = "agent",
    tool_choice: str = "auto",
    max_tokens: int | None = None,
) -> Call:
    """One assistant turn with tools (the agent shape)."""
    history = tuple(_message(m) for m in messages)
    specs = tuple(_tool(t) for t in tools)
    last_user = next((m.content for m in reversed(history) if m.role == "user"), "")
    request = ChatRequest(
        model="", messages=history, tools=specs, max_tokens=max_tokens, tool_choice=tool_choice
    )
    operation = Operation("chat", "chat", request)
    return Call(task, (OutputKind.TOOLS, OutputKind.TEXT), operation, last_user)


def task_call(config: TaskConfig, prompt: str) -> tuple[Call, bool]:
    """The call a bare prompt makes for this task's output kind; True when it is slides."""
    task = config.task
    match config.output_kind:
        case OutputKind.IMAGE:
            return image_call(task=task, prompt=prompt), False
        case OutputKind.STRUCTURED if task == "video-slides":
            return slides_call(task=task, prompt=prompt), True
        case OutputKind.STRUCTURED:
            return structured_call(task=task, prompt=prompt, schema={"type": "object"}), False
        case OutputKind.TOOLS:
            return chat_call(task=task, messages=[{"role": "user", "content": prompt}]), False
        case _:
            return text_call(task=task, prompt=prompt), False
