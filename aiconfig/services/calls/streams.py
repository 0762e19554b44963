"""Streamed text: fallbacks before the first token, the caller reading (or stopping) after."""

from __future__ import annotations

from collections.abc import AsyncIterator

from adapters import CancelToken
from aiconfig.models import Channel
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.aloop import astream
from aiconfig.services.calls.log_later import afinish
from aiconfig.services.calls.loop import Walk, stream
from aiconfig.services.calls.plan import aresolve, resolve
from aiconfig.services.calls.results import TaskRun
from aiconfig.services.history import User


def _stream_call(
    *,
    prompt: str,
    task: str,
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
) -> ops.Call:
    call = ops.text_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    operation = call.operation
    return ops.Call(
        call.task, call.kinds, ops.Operation("stream", "stream_text", operation.request), prompt
    )


class TaskStream:
    """Text deltas of a streamed call; `run` holds the `TaskRun` once the stream ends.

    The fallback chain is walked until a provider produces its first token; after
    that, an error is raised to the reader as `TaskFailed` (the attempt is logged).
    Close it (or use it as a context manager) when you stop reading early; `cancel()`
    stops it from another thread (a Stop button), closing the provider connection.
    """

    def __init__(self, walk: Walk) -> None:
        self.run: TaskRun | None = None
        self.cancel_token = walk.cancel or CancelToken()
        walk.cancel = self.cancel_token
        self.request_id = walk.record.request_id
        self._generator = stream(walk, self._done)

    def _done(self, task_run: TaskRun) -> None:
        self.run = task_run

    def __iter__(self) -> TaskStream:
        return self

    def __next__(self) -> str:
        return next(self._generator)

    def close(self) -> None:
        """Stop reading; the attempt is logged as cancelled."""
        self._generator.close()

    def cancel(self) -> None:
        """Stop the stream from any thread: the provider connection closes at once."""
        self.cancel_token.cancel()

    def __enter__(self) -> TaskStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def text(self) -> str:
        """The full text, once the stream has ended."""
        return (self.run.text or "") if self.run else ""


def stream_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
    cancel: CancelToken | None = None,
) -> TaskStream:
    """Stream text from the task's chain: fallbacks only before the first token."""
    call = _stream_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    return TaskStream(call.walk(resolve(task), source=source, user=user, cancel=cancel))


class AsyncTaskStream:
    """The async twin of `TaskStream`: `async for` the deltas; cancel the task to stop."""

    def __init__(self, walk: Walk) -> None:
        self.run: TaskRun | None = None
        self.request_id = walk.record.request_id
        self._generator = astream(walk, self._done, lambda: afinish(walk.finish))

    def _done(self, task_run: TaskRun) -> None:
        self.run = task_run

    def __aiter__(self) -> AsyncIterator[str]:
        return self._generator

    async def aclose(self) -> None:
        """Stop reading; the attempt is logged as cancelled."""
        await self._generator.aclose()

    async def __aenter__(self) -> AsyncTaskStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def text(self) -> str:
        """The full text, once the stream has ended."""
        return (self.run.text or "") if self.run else ""


async def astream_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> AsyncTaskStream:
    """Async `stream_text`: `stream = await astream_text(...)`, then `async for`."""
    call = _stream_call(
        prompt=prompt, task=task, system=system, max_tokens=max_tokens, temperature=temperature
    )
    resolved = await aresolve(task)
    return AsyncTaskStream(call.walk(resolved, source=source, user=user, cancel=None))
