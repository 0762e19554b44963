"""The async drivers of the attempt loop: the same `Walk`, awaited on the async SDK clients.

Deadlines are `asyncio.timeout`s (for the whole attempt, then per token once a
stream has started); cancelling the caller's task cancels the attempt, closing
its connection, and the attempt is logged as `cancelled`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

from adapters import AsyncTextStream, Result, TextResult, TimedOut, Usage
from aiconfig.services.calls.loop import Walk
from aiconfig.services.calls.plan import ready_adapter
from aiconfig.services.calls.results import Cancelled, TaskRun


async def arun(walk: Walk) -> tuple[Result, TaskRun]:
    """`run` on the SDKs' async clients: same walk, awaited; task cancellation cancels."""
    op = walk.op
    method = "a" + op.method
    for attempt in walk.tries():
        timer = asyncio.timeout(max(0.0, attempt.deadline - time.monotonic()))
        try:
            adapter = ready_adapter(attempt.step, walk.config.timeout_seconds)
            async with timer:
                result = await getattr(adapter, method)(op.request_for(attempt.step))
            if op.check is not None:
                op.check(result)
        except asyncio.CancelledError:
            walk.failed(attempt, walk.error(asyncio.CancelledError(), attempt))
            raise
        except Exception as exc:
            error = walk.timed_out(attempt) if timer.expired() else walk.error(exc, attempt)
            pause = walk.failed(attempt, error)
            if pause:
                await asyncio.sleep(pause)
        else:
            return result, walk.succeeded(attempt, result)
    raise walk.failure()


async def astream(
    walk: Walk, done: Callable[[TaskRun], None], finish: Callable[[], Any]
) -> AsyncIterator[str]:
    """`stream` on the async clients; `finish` writes the log (off the event loop)."""
    for attempt in walk.tries():
        text_stream: AsyncTextStream | None = None
        timer = asyncio.timeout(max(0.0, attempt.deadline - time.monotonic()))
        try:
            adapter = ready_adapter(attempt.step, walk.config.timeout_seconds)
            async with timer:
                text_stream = await adapter.astream_text(walk.op.request_for(attempt.step))
                first = await anext(text_stream, None)
        except asyncio.CancelledError:
            await _aclose(text_stream)
            walk.failed(attempt, walk.error(asyncio.CancelledError(), attempt))
            await finish()
            raise
        except Exception as exc:
            await _aclose(text_stream)
            error = walk.timed_out(attempt) if timer.expired() else walk.error(exc, attempt)
            pause = walk.failed(attempt, error)
            if pause:
                await asyncio.sleep(pause)
            continue
        assert text_stream is not None
        parts: list[str] = []
        idle = walk.config.timeout_seconds
        try:
            delta = first
            while delta is not None:
                parts.append(delta)
                yield delta
                async with asyncio.timeout(idle):
                    delta = await anext(text_stream, None)
        except (GeneratorExit, asyncio.CancelledError):
            await _aclose(text_stream)
            stopped = Cancelled(
                "the caller stopped reading the stream", provider=attempt.step.route.provider
            )
            walk.failed(attempt, stopped)
            await finish()
            raise
        except Exception as exc:
            await _aclose(text_stream)
            stalled = isinstance(exc, TimeoutError) or getattr(exc, "kind", "") == TimedOut.kind
            error = walk.timed_out(attempt, stalled=True) if stalled else walk.error(exc, attempt)
            walk.failed(attempt, error)
            failure = walk.failure(after_first_token=True)
            failure.log_error = await finish()
            raise failure from exc
        text = "".join(parts)
        result = text_stream.result or TextResult(
            text=text, model=attempt.step.route.model, usage=Usage(), latency_ms=0
        )
        task_run = walk.succeeded(attempt, result, text=text)
        log_error = await finish()
        done(replace(task_run, log_error=log_error) if log_error else task_run)
        return
    failure = walk.failure()
    failure.log_error = await finish()
    raise failure


async def _aclose(text_stream: AsyncTextStream | None) -> None:
    if text_stream is not None:
        await text_stream.aclose()
