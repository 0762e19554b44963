"""Fan-out: the same request on several routes at once, each answer as it arrives.

For a playground comparison. Each route is its own call (own request id, no
fallback, the task's timeout and retries), walked by the same attempt loop. At most
`AICONFIG_FANOUT_CONCURRENCY` routes run at once: blocking fan-outs use that many
worker threads (one per running route, never one per token), async ones that many
tasks. Log rows are written by the caller's thread or task, never by a worker.
"""

from __future__ import annotations

import asyncio
import queue
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace

from asgiref.sync import sync_to_async
from django.conf import settings

from adapters import CancelToken, Result
from aiconfig.models import Channel
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.aloop import arun, astream
from aiconfig.services.calls.loop import Operation, Walk, run, stream
from aiconfig.services.calls.plan import plan_step, resolve
from aiconfig.services.calls.results import TaskFailed, TaskRun
from aiconfig.services.history import User
from aiconfig.snapshots import RouteConfig


@dataclass(frozen=True, slots=True)
class RouteEvent:
    """News from one route: a text `delta`, or its end (`run` or `error`)."""

    index: int  # the route's position in `routes` (or in the task's chain)
    provider: str
    model: str
    delta: str = ""
    run: TaskRun | None = None
    error: TaskFailed | None = None

    @property
    def done(self) -> bool:
        """True for the route's last event."""
        return self.run is not None or self.error is not None


@dataclass(frozen=True, slots=True)
class _Route:
    index: int
    walk: Walk
    slides: bool

    def event(self, **kwargs: object) -> RouteEvent:
        route = self.walk.steps[0].route
        return RouteEvent(self.index, route.provider, route.model, **kwargs)  # type: ignore[arg-type]

    def answered(self, result: Result, task_run: TaskRun, log_error: str | None) -> RouteEvent:
        task_run = ops.with_answer(replace(task_run, log_error=log_error), result)
        return self.event(run=ops.with_slides(task_run) if self.slides else task_run)

    def failed(self, failure: TaskFailed, log_error: str | None) -> RouteEvent:
        failure.log_error = failure.log_error or log_error
        return self.event(error=failure)


def _routes(
    *,
    task: str,
    prompt: str,
    routes: Sequence[tuple[str, str]] | None,
    source: str,
    user: User,
    cancel: CancelToken | None,
    streaming: bool,
) -> list[_Route]:
    snapshot, config = resolve(task)
    if streaming:
        call, slides = ops.text_call(prompt=prompt, task=task), False
        call = ops.Call(
            call.task,
            call.kinds,
            Operation("stream", "stream_text", call.operation.request),
            prompt,
        )
    else:
        call, slides = ops.task_call(config, prompt)
    chain = config.chain if routes is None else [RouteConfig(p, m, "fan-out") for p, m in routes]
    result = []
    for index, route in enumerate(chain):
        walk = call.walk((snapshot, config), source=source, user=user, cancel=cancel)
        # Every route is tried as a primary: no fallback, its own request id.
        walk.steps = (plan_step(snapshot, config, 0, route),)
        walk.defer_log = True
        result.append(_Route(index, walk, slides))
    return result


def _limit(count: int, max_concurrency: int | None) -> int:
    return max(1, min(count, max_concurrency or settings.AICONFIG_FANOUT_CONCURRENCY))


def fan_out(
    *,
    task: str,
    prompt: str,
    routes: Sequence[tuple[str, str]] | None = None,
    source: str = Channel.PLAYGROUND,
    user: User = None,
    cancel: CancelToken | None = None,
    max_concurrency: int | None = None,
) -> Iterator[RouteEvent]:
    """Run `prompt` on each route (default: the task's chain) at once; results as they come."""
    cancel = cancel or CancelToken()
    pending = _routes(
        task=task, prompt=prompt, routes=routes, source=source, user=user, cancel=cancel,
        streaming=False,
    )  # fmt: skip

    def attempt(route: _Route) -> tuple[Result, TaskRun] | TaskFailed:
        try:
            return run(route.walk)
        except TaskFailed as failure:
            return failure

    workers = _limit(len(pending), max_concurrency)
    written: set[int] = set()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="aiconfig-fan-out") as pool:
            futures = {pool.submit(attempt, route): route for route in pending}
            try:
                for future in as_completed(futures):
                    route = futures[future]
                    outcome = future.result()
                    log_error = route.walk.record.write()
                    written.add(route.index)
                    if isinstance(outcome, TaskFailed):
                        yield route.failed(outcome, log_error)
                    else:
                        yield route.answered(*outcome, log_error)
            finally:
                cancel.cancel()  # a reader that stops early stops the routes still running
    finally:
        _write_the_rest(pending, written)


def _write_the_rest(pending: list[_Route], written: set[int]) -> None:
    # Routes the reader stopped waiting for still log their (cancelled) attempts.
    for route in pending:
        if route.index not in written:
            route.walk.record.write()


def fan_out_stream(
    *,
    task: str,
    prompt: str,
    routes: Sequence[tuple[str, str]] | None = None,
    source: str = Channel.PLAYGROUND,
    user: User = None,
    cancel: CancelToken | None = None,
    max_concurrency: int | None = None,
) -> Iterator[RouteEvent]:
    """Stream `prompt` from each route at once: every route's deltas as they arrive."""
    cancel = cancel or CancelToken()
    pending = _routes(
        task=task, prompt=prompt, routes=routes, source=source, user=user, cancel=cancel,
        streaming=True,
    )  # fmt: skip
    events: queue.SimpleQueue[tuple[_Route, str, TaskRun | TaskFailed | None]] = queue.SimpleQueue()

    def read(route: _Route) -> None:
        finished: list[TaskRun] = []
        try:
            for delta in stream(route.walk, finished.append):
                events.put((route, delta, None))
            events.put((route, "", finished[0]))
        except TaskFailed as failure:
            events.put((route, "", failure))

    workers = _limit(len(pending), max_concurrency)
    written: set[int] = set()
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="aiconfig-fan-out") as pool:
            for route in pending:
                pool.submit(read, route)
            try:
                left = len(pending)
                while left:
                    route, delta, end = events.get()
                    if end is None:
                        yield route.event(delta=delta)
                        continue
                    left -= 1
                    log_error = route.walk.record.write()
                    written.add(route.index)
                    if isinstance(end, TaskFailed):
                        yield route.failed(end, log_error)
                    else:
                        yield route.event(run=replace(end, log_error=log_error))
            finally:
                cancel.cancel()
    finally:
        _write_the_rest(pending, written)


async def afan_out(
    *,
    task: str,
    prompt: str,
    routes: Sequence[tuple[str, str]] | None = None,
    source: str = Channel.PLAYGROUND,
    user: User = None,
    max_concurrency: int | None = None,
) -> AsyncIterator[RouteEvent]:
    """Async `fan_out`: one task per running route; closing the iterator cancels the rest."""
    pending = await sync_to_async(_routes)(
        task=task, prompt=prompt, routes=routes, source=source, user=user, cancel=None,
        streaming=False,
    )  # fmt: skip
    gate = asyncio.Semaphore(_limit(len(pending), max_concurrency))

    async def attempt(route: _Route) -> RouteEvent:
        async with gate:
            try:
                result, task_run = await arun(route.walk)
            except TaskFailed as failure:
                return route.failed(failure, await sync_to_async(route.walk.record.write)())
            except asyncio.CancelledError:
                await asyncio.shield(sync_to_async(route.walk.record.write)())
                raise
            return route.answered(result, task_run, await sync_to_async(route.walk.record.write)())

    tasks = [asyncio.ensure_future(attempt(route)) for route in pending]
    try:
        for next_done in asyncio.as_completed(tasks):
            yield await next_done
    finally:
        for running in tasks:
            running.cancel()
        # Let the cancelled routes close their connections and write their rows.
        await asyncio.gather(*tasks, return_exceptions=True)


async def afan_out_stream(
    *,
    task: str,
    prompt: str,
    routes: Sequence[tuple[str, str]] | None = None,
    source: str = Channel.PLAYGROUND,
    user: User = None,
    max_concurrency: int | None = None,
) -> AsyncIterator[RouteEvent]:
    """Async `fan_out_stream`: deltas of every route as they arrive, no thread per route."""
    pending = await sync_to_async(_routes)(
        task=task, prompt=prompt, routes=routes, source=source, user=user, cancel=None,
        streaming=True,
    )  # fmt: skip
    gate = asyncio.Semaphore(_limit(len(pending), max_concurrency))
    events: asyncio.Queue[RouteEvent] = asyncio.Queue()

    async def read(route: _Route) -> None:
        finished: list[TaskRun] = []
        write = sync_to_async(route.walk.record.write)
        async with gate:
            try:
                async for delta in astream(route.walk, finished.append, write):
                    await events.put(route.event(delta=delta))
            except TaskFailed as failure:
                await events.put(route.event(error=failure))
                return
        await events.put(route.event(run=finished[0]))

    tasks = [asyncio.ensure_future(read(route)) for route in pending]
    try:
        left = len(tasks)
        while left:
            event = await events.get()
            left -= event.done
            yield event
    finally:
        for running in tasks:
            running.cancel()
        # Let the cancelled routes close their connections and write their rows.
        await asyncio.gather(*tasks, return_exceptions=True)
