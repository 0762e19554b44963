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

import json
import queue
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import transaction

from adapters import CancelToken
from aiconfig.endpoints import public_error
from aiconfig.exceptions import AIConfigError
from aiconfig.models import Channel, ConfigChange, OutputKind, PlaygroundRun
from aiconfig.pricing import format_usd
from aiconfig.services.calls import operations as ops
from aiconfig.services.calls.loop import Walk, stream
from aiconfig.services.calls.loop import run as run_walk
from aiconfig.services.calls.plan import plan_step, resolve
from aiconfig.services.calls.results import Attempt, TaskFailed, TaskRun
from aiconfig.services.calls.streams import _stream_call
from aiconfig.services.config import update_task_config
from aiconfig.services.history import User
from aiconfig.snapshots import RouteConfig, TaskConfig

MAX_COLUMNS = 4
# A direct provider/model column borrows this task's timeout, retries and log name.
DIRECT_TASK = "text"
# How often an idle stream wakes its reader: lets a server notice a gone browser.
HEARTBEAT_SECONDS = 0.25


@dataclass(frozen=True, slots=True)
class Column:
    """What one column runs: a task's chain (`task`) or one `provider`/`model` directly."""

    task: str = ""
    provider: str = ""
    model: str = ""

    @property
    def is_task(self) -> bool:
        """True for a task column (its chain with fallbacks)."""
        return bool(self.task)

    @property
    def route(self) -> str:
        """ "provider/model" of a direct column ("" for a task column or a blank one)."""
        # A half-typed "provider" (no slash) is shown back as typed, not as "provider/".
        return "/".join(part for part in (self.provider, self.model) if part)

    @property
    def label(self) -> str:
        """How the page names the column."""
        return f"Task {self.task}" if self.task else (self.route or "No model chosen")

    def as_dict(self) -> dict[str, str]:
        """The column's settings as saved with a run."""
        return {"task": self.task, "provider": self.provider, "model": self.model}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every column is asked."""

    prompt: str
    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    # Set: every column answers JSON valid against it (structured output).
    schema: dict[str, Any] | None = None
    # Set: every column is a chat turn offered these tools; tool calls shown as returned.
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """News from a run: a column's text `delta`, a column's end (`result`), or a heartbeat."""

    index: int  # the column; -1 for a heartbeat
    delta: str = ""
    result: dict[str, Any] | None = None


@dataclass
class _Lane:
    """One column while it runs."""

    index: int
    column: Column
    walk: Walk | None
    setup_error: str = ""
    # A task whose output is not plain text (slides, JSON, chat) answers whole, not streamed.
    whole: bool = False
    slides: bool = False
    started: float = field(default_factory=time.perf_counter)
    first_token_ms: float | None = None
    parts: list[str] = field(default_factory=list)
    ended: bool = False


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
        columns=[{**c.as_dict(), "status": "running"} for c in columns],
    )


def _inputs(run: PlaygroundRun) -> Inputs:
    return Inputs(
        run.prompt, run.system, run.temperature, run.max_tokens, run.json_schema, run.tools
    )


def _columns(run: PlaygroundRun) -> list[Column]:
    return [
        Column(c.get("task", ""), c.get("provider", ""), c.get("model", "")) for c in run.columns
    ]


def _whole_call(config: TaskConfig, inputs: Inputs) -> tuple[ops.Call, bool] | None:
    """The call a column makes when it does not stream text; True when it is slides."""
    task, kind, system = config.task, config.output_kind, inputs.system or None
    if inputs.tools or kind == OutputKind.TOOLS:
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": inputs.prompt})
        call = ops.chat_call(
            messages=messages, tools=inputs.tools or (), task=task, max_tokens=inputs.max_tokens
        )
    elif inputs.schema is not None:
        call = ops.structured_call(prompt=inputs.prompt, schema=inputs.schema, task=task,
                                   system=system, max_tokens=inputs.max_tokens)  # fmt: skip
    elif kind == OutputKind.TEXT:
        return None
    else:
        # The task's own call for its output kind (the slide schema, an image...), as
        # code calling `run_task` gets it.
        return ops.task_call(config, inputs.prompt)
    if kind == OutputKind.TEXT:
        # A text task (and every direct model column) may be asked for JSON or tools.
        call = replace(call, kinds=(*call.kinds, OutputKind.TEXT))
    return call, False


def _lane(index: int, column: Column, inputs: Inputs, *, user: User, cancel: CancelToken) -> _Lane:
    """A column ready to run: its task's chain (or the one model), streamed or whole."""
    task = column.task or DIRECT_TASK
    snapshot, config = resolve(task)
    whole = _whole_call(config, inputs)
    if whole is None:
        call, slides = (
            _stream_call(
                prompt=inputs.prompt,
                task=task,
                system=inputs.system or None,
                max_tokens=inputs.max_tokens,
                temperature=inputs.temperature,
            ),
            False,
        )
    else:
        call, slides = whole
    walk = call.walk((snapshot, config), source=Channel.PLAYGROUND, user=user, cancel=cancel)
    if not column.is_task:
        if not column.provider or not column.model:
            raise AIConfigError("Choose a model as provider/model, e.g. openai/gpt-4o-mini.")
        if column.provider not in snapshot.providers:
            raise AIConfigError(f"Unknown provider '{column.provider}'.")
        route = RouteConfig(column.provider, column.model, "playground")
        # Checked by the same rules as saving it as the text task's primary.
        walk.steps = (plan_step(snapshot, config, 0, route),)
    # Rows are written by the reading thread (see the module docstring).
    walk.defer_log = True
    return _Lane(index, column, walk, whole=whole is not None, slides=slides)


def _attempts(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """Attempts in words safe to show: never text from the body of whatever answered."""
    rows = []
    for a in attempts:
        kind, words = (
            public_error(kind=a.error_kind, message=a.error) if a.error else (a.error_kind, "")
        )
        rows.append(
            {
                "route": f"{a.provider}/{a.model}",
                "is_fallback": a.is_fallback,
                "ok": a.outcome == "success",
                "outcome": a.outcome,
                "error_kind": kind,
                "error": words,
                "latency_ms": round(a.latency_ms, 1),
            }
        )
    return rows


def _result(lane: _Lane, end: TaskRun | TaskFailed | str) -> dict[str, Any]:
    """The column as saved: its settings, what came back, and the numbers."""
    base: dict[str, Any] = {
        **lane.column.as_dict(),
        "text": "".join(lane.parts),
        "first_token_ms": round(lane.first_token_ms, 1) if lane.first_token_ms else None,
        "streamed": not lane.whole,
        "latency_ms": round((time.perf_counter() - lane.started) * 1000, 1),
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "answered_by": "",
        "fallback_used": False,
        "attempts": [],
        "error": "",
        "request_id": "",
    }
    if isinstance(end, str):
        return {**base, "status": "failed", "error": end}
    if isinstance(end, TaskFailed):
        attempts = _attempts(end.attempts)
        failed = [a for a in attempts if not a["ok"]]
        if end.cancelled:
            status, error = "stopped", "Stopped before it finished."
        else:
            status = "failed"
            last = failed[-1] if failed else None
            error = f"{last['route']}: {last['error'] or last['error_kind']}" if last else ""
            if len(attempts) > 1:
                # Each attempt is listed under the error; this says how it ended.
                error = f"All {len(attempts)} attempts failed; the last one: {error}"
            if end.after_first_token:
                error = f"The stream broke after it had started. {error}"
        return {
            **base,
            "status": status,
            "error": error or "Failed.",
            "attempts": attempts,
            "request_id": str(end.request_id),
        }
    return {
        **base,
        "status": "answered",
        "text": _answer_text(end) or base["text"],
        "latency_ms": round(end.latency_ms, 1),
        "input_tokens": end.input_tokens,
        "output_tokens": end.output_tokens,
        "cost_usd": format_usd(end.cost_usd),
        "answered_by": f"{end.provider}/{end.model}",
        "fallback_used": end.fallback_used,
        "attempts": _attempts(end.attempts),
        "request_id": str(end.request_id),
    }


def _answer_text(task_run: TaskRun) -> str:
    """The answer as the column shows it: text, pretty JSON, tool calls as returned."""
    if task_run.slides:
        slides = [{"image_prompt": s.image_prompt, "narration": s.narration}
                  for s in task_run.slides]  # fmt: skip
        return json.dumps({"slides": slides}, indent=2, ensure_ascii=False)
    if task_run.data is not None:
        return json.dumps(task_run.data, indent=2, ensure_ascii=False)
    if task_run.images:
        return f"{len(task_run.images)} image(s) generated."
    lines = [task_run.text] if task_run.text else []
    for call in task_run.tool_calls:
        lines.append(f"Tool call: {call.name}({json.dumps(call.arguments, ensure_ascii=False)})")
    return "\n".join(lines)


def stream_run(
    *, run: PlaygroundRun, user: User, cancel: CancelToken | None = None
) -> Iterator[Event]:
    """Run every column of a saved run at once; yield deltas and ends as they arrive.

    Heartbeats (`index == -1`) come every `HEARTBEAT_SECONDS` while nothing else does.
    Closing the iterator early (or cancelling `cancel`) stops every column; the run is
    saved either way, `finished` or `stopped`.
    """
    cancel = cancel or CancelToken()
    inputs = _inputs(run)
    lanes: list[_Lane] = []
    for index, column in enumerate(_columns(run)):
        try:
            lanes.append(_lane(index, column, inputs, user=user, cancel=cancel))
        except AIConfigError as exc:
            lanes.append(_Lane(index, column, None, setup_error=str(exc)))
    events: queue.SimpleQueue[tuple[int, str, TaskRun | TaskFailed | None]] = queue.SimpleQueue()
    results: dict[int, dict[str, Any]] = {}

    def read(lane: _Lane) -> None:
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

    def end(lane: _Lane, outcome: TaskRun | TaskFailed | str) -> Event:
        if lane.walk is not None:
            lane.walk.record.write()
        lane.ended = True
        results[lane.index] = _result(lane, outcome)
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
                stopped_early = _result(lane, "Stopped before it finished.")
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
