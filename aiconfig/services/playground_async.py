"""The playground's columns on the async call path: no thread per column, none per stream.

The ASGI twin of `playground.stream_run` (which serves `make run`, a WSGI server):
the same columns (`_lane`), the same results (`column_result`), the same stored
images (`_keep_images`), the same saved run, but
every column is an asyncio task awaiting the SDKs' async clients (`astream`,
`arun`), so a server holds many streams on one event loop. Only the database work
(building the columns, writing log rows, saving the run) hops to a thread, briefly.

Stopping: cancelling the consumer (the ASGI server does it when the browser goes
away, or presses Stop) cancels every column task; each closes its provider
connection and its attempt is logged `cancelled`; the run is saved as stopped with
whatever had arrived.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async

from adapters import CancelToken
from aiconfig.exceptions import AIConfigError
from aiconfig.models import PlaygroundRun
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.aloop import arun, astream
from aiconfig.services.calls.results import TaskFailed, TaskRun
from aiconfig.services.history import User
from aiconfig.services.playground import Event, _keep_images, _lane, run_columns, run_inputs
from aiconfig.services.playground_results import Lane, column_result

Outcome = TaskRun | TaskFailed | str


def _lanes(run: PlaygroundRun, user: User) -> list[Lane]:
    """The run's columns ready to run (reads the configuration: call it off the loop)."""
    inputs = run_inputs(run)
    lanes = []
    for index, column in enumerate(run_columns(run)):
        try:
            lanes.append(_lane(index, column, inputs, user=user, cancel=CancelToken()))
        except AIConfigError as exc:
            lanes.append(Lane(index, column, None, setup_error=str(exc)))
    return lanes


async def _not_yet() -> None:
    """`astream`'s log writer: the rows are written once the column's end is read."""
    return None


async def _read(lane: Lane, events: asyncio.Queue[tuple[int, str, Outcome | None]]) -> None:
    """Run one column to its end, putting its deltas and then its outcome on `events`."""
    walk = lane.walk
    assert walk is not None
    outcome: Outcome
    try:
        if lane.whole:
            result, task_run = await arun(walk)
            task_run = ops.with_answer(task_run, result)
            outcome = ops.with_slides(task_run) if lane.slides else task_run
        else:
            finished: list[TaskRun] = []
            async for delta in astream(walk, finished.append, _not_yet):
                events.put_nowait((lane.index, delta, None))
            outcome = finished[0]
    except TaskFailed as failure:
        outcome = failure
    events.put_nowait((lane.index, "", outcome))


def _keep(run: PlaygroundRun, lane: Lane, outcome: Outcome) -> None:
    """Write a column's log rows and store its images, as the sync path's `end` does."""
    if lane.walk is not None:
        lane.walk.record.write()
    _keep_images(run, lane.index, outcome)


def _save(run: PlaygroundRun, lanes: list[Lane], results: dict[int, dict[str, Any]]) -> None:
    """Write the rows of the columns nobody read to the end, then save the run."""
    for lane in lanes:
        if not lane.ended:
            if lane.walk is not None:
                lane.walk.record.write()  # their cancelled attempts
            stopped_early = column_result(lane, "Stopped before it finished.")
            results[lane.index] = {**stopped_early, "status": "stopped"}
    stopped = any(r["status"] == "stopped" for r in results.values())
    run.columns = [results[i] for i in range(len(lanes))]
    run.status = PlaygroundRun.Status.STOPPED if stopped else PlaygroundRun.Status.FINISHED
    run.save(update_fields=["columns", "status"])


async def astream_run(*, run: PlaygroundRun, user: User) -> AsyncIterator[Event]:
    """Run every column of a saved run at once; yield deltas and ends as they arrive.

    Async `playground.stream_run` (without heartbeats: an ASGI server hears a
    disconnect by itself). Cancelling the caller, or closing the iterator early,
    cancels every column; the run is saved either way, `finished` or `stopped`.
    """
    lanes = await sync_to_async(_lanes)(run, user)
    events: asyncio.Queue[tuple[int, str, Outcome | None]] = asyncio.Queue()
    results: dict[int, dict[str, Any]] = {}
    keep = sync_to_async(_keep)

    async def end(lane: Lane, outcome: Outcome) -> Event:
        # Ended before the rows are written: a cancel that lands during the write must
        # not make `_finish` write them a second time (the thread finishes this one).
        lane.ended = True
        results[lane.index] = column_result(lane, outcome)
        await keep(run, lane, outcome)
        return Event(lane.index, result=results[lane.index])

    tasks = [asyncio.ensure_future(_read(lane, events)) for lane in lanes if lane.walk]
    try:
        for lane in lanes:
            if lane.walk is None:
                yield await end(lane, lane.setup_error)
        while not all(lane.ended for lane in lanes):
            index, delta, outcome = await events.get()
            lane = lanes[index]
            if outcome is not None:
                yield await end(lane, outcome)
                continue
            if lane.first_token_ms is None:
                lane.first_token_ms = (time.perf_counter() - lane.started) * 1000
            lane.parts.append(delta)
            yield Event(index, delta=delta)
    finally:
        # Stop (or a reader gone): cancel the columns still running, which closes their
        # provider connections, and let them log their attempts before saving.
        for task in tasks:
            task.cancel()
        await asyncio.shield(_finish(tasks, events, lanes, run, results))


async def _finish(
    tasks: list[asyncio.Future[None]],
    events: asyncio.Queue[tuple[int, str, Outcome | None]],
    lanes: list[Lane],
    run: PlaygroundRun,
    results: dict[int, dict[str, Any]],
) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)
    # Ends that arrived after the reader stopped reading: those columns did finish.
    ends: list[tuple[Lane, Outcome]] = []
    while not events.empty():
        index, delta, outcome = events.get_nowait()
        lane = lanes[index]
        if lane.ended:
            continue
        if outcome is None:
            lane.parts.append(delta)
        else:
            ends.append((lane, outcome))

    def save() -> None:
        for lane, outcome in ends:
            lane.ended = True
            results[lane.index] = column_result(lane, outcome)
            _keep(run, lane, outcome)
        _save(run, lanes, results)

    await sync_to_async(save)()
