"""The playground: one prompt on up to four columns at once, streamed, every run saved.

A column is either a task (its real chain, fallbacks included, exactly as code
calling `calls.stream_text(task=...)` gets it) or one provider/model tried directly
(on the `text` task's timeout and retries, no fallback). All columns start at once,
one worker thread each (at most four, never one per token); their deltas reach the
caller as they arrive. The call-log rows are written by the caller's thread, as the
call core's own fan-out does, with source `playground` and the user.

Stopping: the caller cancels the shared `CancelToken` (a Stop button), or simply
stops reading (the browser closed the connection): either way every provider
request still open is closed, the attempts are logged `cancelled` and the run is
saved as stopped with whatever had arrived.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from django.db import transaction

from adapters import CancelToken, TextRequest
from aiconfig.exceptions import AIConfigError
from aiconfig.models import Channel, ConfigChange, OutputKind, PlaygroundImage, PlaygroundRun
from aiconfig.selectors import config_snapshot
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.loop import run as run_walk
from aiconfig.services.calls.loop import stream
from aiconfig.services.calls.plan import plan_step, resolve
from aiconfig.services.calls.results import TaskFailed, TaskRun
from aiconfig.services.config import update_task_config
from aiconfig.services.history import User
from aiconfig.services.playground_inputs import (
    DIRECT_TASK,
    MAX_COLUMNS,
    Column,
    Inputs,
    history,
    transcript,
)
from aiconfig.services.playground_results import Lane, column_result
from aiconfig.snapshots import ConfigSnapshot, RouteConfig, TaskConfig

# How often an idle stream wakes its reader: lets a server notice a gone browser.
HEARTBEAT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Event:
    """News from a run: a column's text `delta`, a column's end (`result`), or a heartbeat."""

    index: int  # the column; -1 for a heartbeat
    delta: str = ""
    result: dict[str, Any] | None = None


def start_run(*, user: User, inputs: Inputs, columns: Sequence[Column]) -> PlaygroundRun:
    """Save a new run (status running) with its inputs and columns, before any request."""
    if not inputs.prompt.strip():
        raise AIConfigError("Enter a prompt.")
    if not 1 <= len(columns) <= MAX_COLUMNS:
        raise AIConfigError(f"Use one to {MAX_COLUMNS} columns.")
    return PlaygroundRun.objects.create(
        user=user if getattr(user, "pk", None) else None,
        prompt=inputs.prompt,
        system=inputs.system,
        temperature=inputs.temperature,
        max_tokens=inputs.max_tokens,
        json_schema=inputs.schema,
        tools=inputs.tools,
        image_size=inputs.image_size,
        image_quality=inputs.image_quality,
        image_count=inputs.image_count,
        turns=list(inputs.turns),
        columns=[{**c.as_dict(), "status": "running"} for c in columns],
    )


def run_inputs(run: PlaygroundRun) -> Inputs:
    """A saved run's inputs (to run it, again or continued)."""
    return Inputs(
        run.prompt, run.system, run.temperature, run.max_tokens, run.json_schema, run.tools,
        run.image_size, run.image_quality, run.image_count, tuple(run.turns or ()),
    )  # fmt: skip


def run_columns(run: PlaygroundRun) -> list[Column]:
    """A saved run's columns, in page order."""
    return [
        Column(c.get("task", ""), c.get("provider", ""), c.get("model", "")) for c in run.columns
    ]


def _image_call(config: TaskConfig, inputs: Inputs) -> ops.Call:
    """The image task's call with the page's size, quality and count (else its defaults)."""
    return ops.image_call(
        prompt=inputs.prompt,
        task=config.task,
        size=inputs.image_size or "1024x1024",
        quality=inputs.image_quality or None,
        n=inputs.image_count or 1,
    )


def _whole_call(config: TaskConfig, inputs: Inputs, index: int) -> tuple[ops.Call, bool] | None:
    """The call a column makes when it does not stream text; True when it is slides."""
    task, kind, system = config.task, config.output_kind, inputs.system or None
    if kind == OutputKind.IMAGE:
        return _image_call(config, inputs), False
    if inputs.tools or kind == OutputKind.TOOLS:
        messages: list[Any] = [{"role": "system", "content": system}] if system else []
        messages += [*history(inputs.turns, index), {"role": "user", "content": inputs.prompt}]
        call = ops.chat_call(
            messages=messages, tools=inputs.tools or (), task=task, max_tokens=inputs.max_tokens
        )
    elif inputs.schema is not None:
        prompt = transcript(inputs.turns, index, inputs.prompt)
        call = ops.structured_call(prompt=prompt, schema=inputs.schema, task=task,
                                   system=system, max_tokens=inputs.max_tokens)  # fmt: skip
    elif kind == OutputKind.TEXT:
        return None
    else:
        # The task's own call for its output kind (the slide schema...), as code calling
        # `run_task` gets it.
        return ops.task_call(config, transcript(inputs.turns, index, inputs.prompt))
    if kind == OutputKind.TEXT:
        # A text task (and every direct model column) may be asked for JSON or tools.
        call = replace(call, kinds=(*call.kinds, OutputKind.TEXT))
    return call, False


def _stream(task: str, inputs: Inputs, index: int) -> ops.Call:
    """Streamed text, the column's own conversation so far sent before the prompt."""
    request = TextRequest(
        model="",
        prompt=inputs.prompt,
        system=inputs.system or None,
        max_tokens=inputs.max_tokens,
        temperature=inputs.temperature,
        history=history(inputs.turns, index),
    )
    operation = ops.Operation("stream", "stream_text", request)
    return ops.Call(task, ops.TEXT_KINDS, operation, inputs.prompt)


def _direct_task(snapshot: ConfigSnapshot, column: Column) -> str:
    """The task a direct column borrows: an image task for a model that only draws."""
    provider = snapshot.providers.get(column.provider)
    info = provider.models.get(column.model) if provider else None
    if info is not None and info.image and not info.text:
        images = [t for t in snapshot.tasks.values() if t.output_kind == OutputKind.IMAGE]
        named = [t.task for t in images if t.task == "image"]
        if named or images:
            return (named or [images[0].task])[0]
    return DIRECT_TASK


def _lane(index: int, column: Column, inputs: Inputs, *, user: User, cancel: CancelToken) -> Lane:
    """A column ready to run: its task's chain (or the one model), streamed or whole."""
    task = column.task or _direct_task(config_snapshot(), column)
    snapshot, config = resolve(task)
    whole = _whole_call(config, inputs, index)
    call, slides = whole if whole is not None else (_stream(task, inputs, index), False)
    walk = call.walk((snapshot, config), source=Channel.PLAYGROUND, user=user, cancel=cancel)
    if not column.is_task:
        if not column.provider or not column.model:
            raise AIConfigError("Choose a model as provider/model, e.g. openai/gpt-4o-mini.")
        if column.provider not in snapshot.providers:
            raise AIConfigError(f"Unknown provider '{column.provider}'.")
        route = RouteConfig(column.provider, column.model, "playground")
        # Checked by the same rules as saving it as the task's primary.
        walk.steps = (plan_step(snapshot, config, 0, route),)
    # Rows are written by the reading thread (see the module docstring).
    walk.defer_log = True
    return Lane(index, column, walk, whole=whole is not None, slides=slides)


def _keep_images(run: PlaygroundRun, index: int, outcome: TaskRun | TaskFailed | str) -> None:
    """Store a column's generated images, for the page to show and offer for download."""
    if isinstance(outcome, TaskRun) and outcome.images:
        PlaygroundImage.objects.bulk_create(
            PlaygroundImage(run=run, column=index, position=n, mime_type=image.mime_type,
                            data=image.data, revised_prompt=image.revised_prompt or "")
            for n, image in enumerate(outcome.images)
        )  # fmt: skip


def stream_run(
    *, run: PlaygroundRun, user: User, cancel: CancelToken | None = None
) -> Iterator[Event]:
    """Run every column of a saved run at once; yield deltas and ends as they arrive.

    Heartbeats (`index == -1`) come every `HEARTBEAT_SECONDS` while nothing else does.
    Closing the iterator early (or cancelling `cancel`) stops every column; the run is
    saved either way, `finished` or `stopped`.
    """
    cancel = cancel or CancelToken()
    inputs = run_inputs(run)
    lanes: list[Lane] = []
    for index, column in enumerate(run_columns(run)):
        try:
            lanes.append(_lane(index, column, inputs, user=user, cancel=cancel))
        except AIConfigError as exc:
            lanes.append(Lane(index, column, None, setup_error=str(exc)))
    events: queue.SimpleQueue[tuple[int, str, TaskRun | TaskFailed | None]] = queue.SimpleQueue()
    results: dict[int, dict[str, Any]] = {}

    def read(lane: Lane) -> None:
        assert lane.walk is not None
        finished: list[TaskRun] = []
        try:
            if lane.whole:
                result, task_run = run_walk(lane.walk)
                task_run = ops.with_answer(task_run, result)
                events.put((lane.index, "", ops.with_slides(task_run) if lane.slides else task_run))
                return
            for delta in stream(lane.walk, finished.append):
                events.put((lane.index, delta, None))
            events.put((lane.index, "", finished[0]))
        except TaskFailed as failure:
            events.put((lane.index, "", failure))

    def end(lane: Lane, outcome: TaskRun | TaskFailed | str) -> Event:
        if lane.walk is not None:
            lane.walk.record.write()
        lane.ended = True
        _keep_images(run, lane.index, outcome)
        results[lane.index] = column_result(lane, outcome)
        return Event(lane.index, result=results[lane.index])

    try:
        with ThreadPoolExecutor(MAX_COLUMNS, thread_name_prefix="aiconfig-playground") as pool:
            try:
                for lane in lanes:
                    if lane.walk is None:
                        yield end(lane, lane.setup_error)
                    else:
                        pool.submit(read, lane)
                while not all(lane.ended for lane in lanes):
                    try:
                        index, delta, outcome = events.get(timeout=HEARTBEAT_SECONDS)
                    except queue.Empty:
                        yield Event(-1)
                        continue
                    lane = lanes[index]
                    if outcome is None:
                        if lane.first_token_ms is None:
                            lane.first_token_ms = (time.perf_counter() - lane.started) * 1000
                        lane.parts.append(delta)
                        yield Event(index, delta=delta)
                    else:
                        yield end(lane, outcome)
            finally:
                # Stop (or a reader gone): close every provider request still open.
                cancel.cancel()
    finally:
        # The workers are done (the pool waited for them): collect the ends of the
        # columns nobody read to the end, so their attempts are logged as cancelled.
        while not events.empty():
            index, delta, outcome = events.get()
            if lanes[index].ended:
                continue
            if outcome is None:
                lanes[index].parts.append(delta)
            else:
                end(lanes[index], outcome)
        for lane in lanes:
            if not lane.ended:
                stopped_early = column_result(lane, "Stopped before it finished.")
                results[lane.index] = {**stopped_early, "status": "stopped"}
        stopped = any(r["status"] == "stopped" for r in results.values())
        run.columns = [results[i] for i in range(len(lanes))]
        run.status = PlaygroundRun.Status.STOPPED if stopped else PlaygroundRun.Status.FINISHED
        run.save(update_fields=["columns", "status"])


def execute_run(*, run: PlaygroundRun, user: User) -> PlaygroundRun:
    """Run every column to its end (the no-JavaScript path); the run, saved."""
    for _ in stream_run(run=run, user=user):
        pass
    return run


def promote(*, run: PlaygroundRun, column: int, task: str, user: User) -> ConfigChange | None:
    """Make the model that answered `column` of `run` the primary model of `task`.

    Goes through `update_task_config` (permissions are the caller's, validation,
    versioning and history as for any edit); the history entry names the run.
    Raises `AIConfigError` for a column that did not answer.
    """
    try:
        result = run.columns[column]
    except (IndexError, TypeError):
        raise AIConfigError("That column does not exist.") from None
    provider, _, model = str(result.get("answered_by") or "").partition("/")
    if result.get("status") != "answered" or not provider or not model:
        raise AIConfigError("Only a column that answered can be used for a task.")
    with transaction.atomic():
        last = ConfigChange.objects.order_by("-id").values_list("id", flat=True).first()
        update_task_config(
            task=task, provider=provider, model=model, channel=Channel.PLAYGROUND, user=user
        )
        change = (
            ConfigChange.objects.filter(
                id__gt=last or 0, target_type=ConfigChange.Target.TASK, target_name=task
            )
            .order_by("-id")
            .first()
        )
        if change is not None:
            # The evidence: which comparison justified the change.
            change.summary = f"{change.summary} (from playground run #{run.pk})"[:500]
            change.save(update_fields=["summary"])
    return change
