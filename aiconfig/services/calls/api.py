"""The public calls: blocking ones, and their async twins (prefixed `a`) on the async SDKs.

Every one reads the task's configuration at call time, walks its chain through the
one attempt loop (`loop.py`) and logs one row per attempt. Blocking calls take an
optional `cancel` token (`adapters.CancelToken`); an async call is cancelled by
cancelling its task.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from adapters import CancelToken, ChatMessage, ToolSpec
from aiconfig.models import Channel
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.plan import aresolve, resolve
from aiconfig.services.calls.results import TaskRun
from aiconfig.services.history import User


def generate_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """Generate text with the task's configured provider chain."""
    call = ops.text_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    return ops.blocking(call, source=source, user=user, cancel=cancel)


async def agenerate_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Async `generate_text`."""
    call = ops.text_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    return await ops.awaited(call, source=source, user=user)


def generate_image(
    *,
    prompt: str,
    task: str = "image",
    size: str = "1024x1024",
    quality: str | None = None,
    n: int = 1,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """Generate images (as bytes) with the task's configured provider chain."""
    call = ops.image_call(prompt=prompt, task=task, size=size, quality=quality, n=n)
    return ops.blocking(call, source=source, user=user, cancel=cancel)


async def agenerate_image(
    *,
    prompt: str,
    task: str = "image",
    size: str = "1024x1024",
    quality: str | None = None,
    n: int = 1,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Async `generate_image`."""
    call = ops.image_call(prompt=prompt, task=task, size=size, quality=quality, n=n)
    return await ops.awaited(call, source=source, user=user)


def generate_structured(
    *,
    prompt: str,
    schema: Mapping[str, Any],
    task: str = "video-slides",
    schema_name: str = "result",
    system: str | None = None,
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """Generate JSON that validates against `schema`; an answer that doesn't is a failure."""
    call = ops.structured_call(
        prompt=prompt,
        schema=schema,
        task=task,
        schema_name=schema_name,
        system=system,
        max_tokens=max_tokens,
    )
    return ops.blocking(call, source=source, user=user, cancel=cancel)


async def agenerate_structured(
    *,
    prompt: str,
    schema: Mapping[str, Any],
    task: str = "video-slides",
    schema_name: str = "result",
    system: str | None = None,
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Async `generate_structured`."""
    call = ops.structured_call(
        prompt=prompt,
        schema=schema,
        task=task,
        schema_name=schema_name,
        system=system,
        max_tokens=max_tokens,
    )
    return await ops.awaited(call, source=source, user=user)


def generate_slides(
    *,
    prompt: str,
    task: str = "video-slides",
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """Slides for a video: each with an image prompt and narration text, validated."""
    call = ops.slides_call(prompt=prompt, task=task)
    return ops.with_slides(ops.blocking(call, source=source, user=user, cancel=cancel))


async def agenerate_slides(
    *,
    prompt: str,
    task: str = "video-slides",
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Async `generate_slides`."""
    call = ops.slides_call(prompt=prompt, task=task)
    return ops.with_slides(await ops.awaited(call, source=source, user=user))


def chat(
    *,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    tools: Sequence[ToolSpec | Mapping[str, Any]] = (),
    task: str = "agent",
    tool_choice: str = "auto",
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """One assistant turn with tools (the agent shape); tool calls are normalised.

    Falls back like every other call: the agent's fallback fires at run time.
    """
    call = ops.chat_call(
        messages=messages, tools=tools, task=task, tool_choice=tool_choice, max_tokens=max_tokens
    )
    return ops.blocking(call, source=source, user=user, cancel=cancel)


async def achat(
    *,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    tools: Sequence[ToolSpec | Mapping[str, Any]] = (),
    task: str = "agent",
    tool_choice: str = "auto",
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Async `chat`."""
    call = ops.chat_call(
        messages=messages, tools=tools, task=task, tool_choice=tool_choice, max_tokens=max_tokens
    )
    return await ops.awaited(call, source=source, user=user)


def run_task(
    *,
    task: str,
    prompt: str,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskRun:
    """Run a prompt through a task, whatever its output kind (the CLI's and playground's call)."""
    call, slides = ops.task_call(resolve(task)[1], prompt)
    task_run = ops.blocking(call, source=source, user=user, cancel=cancel)
    return ops.with_slides(task_run) if slides else task_run


async def arun_task(
    *, task: str, prompt: str, source: str = Channel.CODE, user: User = None
) -> TaskRun:
    """Async `run_task`."""
    call, slides = ops.task_call((await aresolve(task))[1], prompt)
    task_run = await ops.awaited(call, source=source, user=user)
    return ops.with_slides(task_run) if slides else task_run
