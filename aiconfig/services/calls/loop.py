"""The attempt loop: try each route in order, classify a failure, retry or fall back.

`Walk` holds the rules, once: which attempt comes next, what an exception means for
it, whether to retry the same route (and after what pause) or move on, and when the
task's total time limit stops further fallbacks. The drivers below only do the I/O
of an attempt - blocking or async, whole answers or streams - and ask the walk what
to do next, so every operation follows the same rules.

Rules, on purpose:
- every failed attempt moves on to the next fallback — 400s, auth errors, timeouts,
  unreadable bodies and answers that fail validation included;
- an attempt has a wall-clock deadline equal to the task's timeout, for the whole
  attempt (connect, headers, body), whatever the provider does; an optional total
  limit per task stops new attempts once it has run out;
- the SDKs' own retries are off; a task's `max_retries` retries the same provider
  first, honouring `Retry-After` up to a cap;
- a stream falls back only before its first token, which must arrive within the
  timeout; after it, a silence longer than the timeout ends the stream with an error;
- a cancelled call closes its provider connection at once and logs `cancelled`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import Any

from django.conf import settings
from django.utils import timezone

from adapters import (
    AdapterError,
    CancelToken,
    Result,
    TextResult,
    TextStream,
    TimedOut,
    Usage,
    attempt_scope,
)
from aiconfig.formatting import usd
from aiconfig.pricing import call_cost
from aiconfig.selectors.budgets import note_spend, stopping_budget
from aiconfig.services.calls.log import CallRecord
from aiconfig.services.calls.plan import Step, plan, ready_adapter, wrap_unexpected
from aiconfig.services.calls.results import (
    BudgetExceeded,
    Cancelled,
    OutOfTime,
    TaskFailed,
    TaskRun,
)
from aiconfig.services.history import User
from aiconfig.snapshots import ConfigSnapshot, TaskConfig

# Kinds worth retrying on the same provider (when the task allows retries).
RETRYABLE = frozenset({"rate_limited", "timed_out", "provider_error", "invalid_output"})


@dataclass(frozen=True, slots=True)
class Operation:
    """One kind of request as the loop sees it: which adapter call, and on what."""

    name: str  # as logged: "text", "image", "structured", "chat", "stream"
    method: str  # the adapter's method; its async twin is "a" + method
    request: Any  # each route puts its own model in
    check: Callable[[Result], None] | None = None  # raises InvalidOutput
    image_size: str | None = None
    image_quality: str | None = None

    def request_for(self, step: Step) -> Any:
        """This operation's request for one route."""
        return replace(self.request, model=step.route.model)


@dataclass(frozen=True, slots=True)
class Try:
    """One attempt about to be made."""

    step: Step
    retry: int
    started: float  # time.perf_counter()
    deadline: float  # time.monotonic(); for a stream, the first token's


class Walk:
    """One call's way along its plan: the decisions every driver shares."""

    def __init__(
        self,
        *,
        snapshot: ConfigSnapshot,
        config: TaskConfig,
        operation: Operation,
        source: str,
        user: User,
        prompt: str,
        cancel: CancelToken | None = None,
        steps: tuple[Step, ...] | None = None,
    ) -> None:
        self.snapshot = snapshot
        self.config = config
        self.op = operation
        self.cancel = cancel
        self.steps = steps if steps is not None else plan(snapshot, config)
        self.record = CallRecord(
            task=config, operation=operation.name, source=source, user=user, prompt=prompt
        )
        total = config.total_timeout_seconds
        self.total_deadline = time.monotonic() + total if total else None
        self._again = False
        # The step being tried now: who answers a stream once its first token is in.
        self.current: Step | None = None
        # Set by fan-out: rows are written by the caller's thread, not the worker's.
        self.defer_log = False
        # Set when a spent budget refused the call: seconds until it resets.
        self.retry_after: float | None = None

    @property
    def cancelled(self) -> bool:
        """True once the caller has cancelled the call."""
        return self.cancel is not None and self.cancel.cancelled

    def tries(self) -> Iterator[Try]:
        """The attempts to make, in order; stops on success, cancel or the total limit."""
        if self._over_budget():
            return
        for step in self.steps:
            retry = 0
            while not self.cancelled:
                now = time.monotonic()
                deadline = now + self.config.timeout_seconds
                if self.total_deadline is not None:
                    if now >= self.total_deadline:
                        self._out_of_time(step)
                        return
                    deadline = min(deadline, self.total_deadline)
                self._again = False
                self.current = step
                yield Try(step, retry, time.perf_counter(), deadline)
                if not self._again:
                    break
                retry += 1

    def _over_budget(self) -> bool:
        """Refuse the call (logged, no request made) when a spent `stop` budget covers it."""
        status = stopping_budget(self.snapshot, self.config.task)
        if status is None or not self.steps:
            return False
        budget = status.budget
        step = self.steps[0]
        error = BudgetExceeded(
            f"not tried: {budget.description} is spent ({usd(status.spent_usd)} of "
            f"{usd(budget.amount_usd)}); calls are stopped until "
            f"{status.resets_at:%Y-%m-%d %H:%M} UTC",
            provider=step.route.provider,
            retry_after=(status.resets_at - timezone.now()).total_seconds(),
        )
        self.record.record(step, latency_ms=0.0, error=error)
        self.retry_after = error.retry_after
        return True

    def _out_of_time(self, step: Step) -> None:
        limit = self.config.total_timeout_seconds or 0
        error = OutOfTime(
            f"not tried: the task's total time limit of {limit:g} s had run out",
            provider=step.route.provider,
        )
        self.record.record(step, latency_ms=0.0, error=error)

    def error(self, exc: BaseException, attempt: Try) -> AdapterError:
        """What an exception means for an attempt; a cancel wins over what it caused."""
        if self.cancelled or isinstance(exc, asyncio.CancelledError):
            return Cancelled("cancelled by the caller", provider=attempt.step.route.provider)
        if isinstance(exc, AdapterError):
            return exc
        return wrap_unexpected(exc, attempt.step)  # type: ignore[arg-type]

    def timed_out(self, attempt: Try, *, stalled: bool = False) -> AdapterError:
        """The error for an attempt stopped by its deadline (async) or a stalled stream."""
        name = attempt.step.route.provider
        seconds = f"{self.config.timeout_seconds:g} s"
        if stalled:
            return TimedOut(f"{name}: the stream stalled (no token for {seconds})", provider=name)
        return TimedOut(f"{name}: no response within {seconds} (timed out)", provider=name)

    def failed(self, attempt: Try, error: AdapterError) -> float:
        """Log a failed attempt; the pause before retrying it, or 0 to move on."""
        self.record.record(attempt.step, latency_ms=_ms_since(attempt.started), error=error)
        if (
            error.kind not in RETRYABLE
            or attempt.retry >= self.config.max_retries
            or self.cancelled
        ):
            return 0.0
        delay = retry_delay(error, attempt.retry)
        if self.total_deadline is not None and time.monotonic() + delay >= self.total_deadline:
            return 0.0
        self._again = True
        return delay

    def pause(self, seconds: float) -> None:
        """Wait before a retry; a cancel cuts the wait short."""
        if self.cancel is not None:
            self.cancel.wait(seconds)
        else:
            time.sleep(seconds)

    def succeeded(self, attempt: Try, result: Result, *, text: str | None = None) -> TaskRun:
        """Log the answering attempt; the run to return (log not yet written)."""
        step = attempt.step
        usage = result.usage
        assert step.provider is not None
        cost = call_cost(
            provider=step.provider,
            model=step.route.model,
            usage=usage,
            prices=self.snapshot.prices,
            image_size=self.op.image_size,
            image_quality=self.op.image_quality,
        )
        response = result.log_text if text is None else text
        note_spend(self.config.task, cost)
        self.record.record(
            step,
            latency_ms=_ms_since(attempt.started),
            usage=usage,
            cost=cost,
            response_model=result.model,
            response=response,
        )
        return TaskRun(
            task=self.config.task,
            output_kind=self.config.output_kind,
            operation=self.op.name,
            request_id=self.record.request_id,
            provider=step.route.provider,
            model=step.route.model,
            response_model=result.model,
            fallback_used=step.position > 0,
            latency_ms=self.record.elapsed_ms(),
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            image_count=usage.image_count,
            cost_usd=cost,
            attempts=tuple(self.record.attempts),
            text=text,
        )

    def failure(self, *, after_first_token: bool = False) -> TaskFailed:
        """The error for a call that got no answer."""
        return TaskFailed(
            task=self.config.task,
            request_id=self.record.request_id,
            attempts=self.record.attempts,
            after_first_token=after_first_token,
            retry_after=self.retry_after,
        )

    def finish(self) -> str | None:
        """Write the call's log rows; the reason when they could not be written."""
        if self.defer_log:
            return None
        return self.record.write()  # and checks alerts once the rows are in


def retry_delay(error: AdapterError, retry: int) -> float:
    """How long to wait before retrying the same route."""
    cap = float(settings.AICONFIG_RETRY_AFTER_CAP_SECONDS)
    if error.retry_after is not None:
        return max(0.0, min(error.retry_after, cap))
    return min(0.5 * (2**retry), cap)


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# --- blocking drivers ----------------------------------------------------------------


def run(walk: Walk) -> tuple[Result, TaskRun]:
    """Walk the plan with blocking calls until a route answers; raise `TaskFailed` if none."""
    op = walk.op
    for attempt in walk.tries():
        try:
            adapter = ready_adapter(attempt.step, walk.config.timeout_seconds)
            with attempt_scope(deadline=attempt.deadline, cancel=walk.cancel):
                result = getattr(adapter, op.method)(op.request_for(attempt.step))
            if op.check is not None:
                op.check(result)
        except Exception as exc:
            pause = walk.failed(attempt, walk.error(exc, attempt))
            if pause:
                walk.pause(pause)
        else:
            return result, walk.succeeded(attempt, result)
    raise walk.failure()


def run_and_log(walk: Walk) -> tuple[Result, TaskRun]:
    """`run`, then the log rows written; their failure is reported on the run or error."""
    try:
        result, task_run = run(walk)
    except TaskFailed as failed:
        failed.log_error = walk.finish()
        raise
    log_error = walk.finish()
    return result, (replace(task_run, log_error=log_error) if log_error else task_run)


def stream(walk: Walk, done: Callable[[TaskRun], None]) -> Iterator[str]:
    """Text deltas from the first route whose first token arrives in time."""
    for attempt in walk.tries():
        text_stream: TextStream | None = None
        try:
            adapter = ready_adapter(attempt.step, walk.config.timeout_seconds)
            with attempt_scope(deadline=attempt.deadline, cancel=walk.cancel):
                text_stream = adapter.stream_text(walk.op.request_for(attempt.step))
                first = next(text_stream, None)
        except Exception as exc:
            if text_stream is not None:
                text_stream.close()
            pause = walk.failed(attempt, walk.error(exc, attempt))
            if pause:
                walk.pause(pause)
            continue
        yield from _rest_of_stream(walk, attempt, text_stream, first, done)
        return
    failure = walk.failure()
    failure.log_error = walk.finish()
    raise failure


def _rest_of_stream(
    walk: Walk,
    attempt: Try,
    text_stream: TextStream,
    first: str | None,
    done: Callable[[TaskRun], None],
) -> Iterator[str]:
    parts: list[str] = []
    idle = walk.config.timeout_seconds
    try:
        delta: object = first
        while delta is not None:
            parts.append(delta)  # type: ignore[arg-type]
            yield delta  # type: ignore[misc]
            # Past the first token, each next one must come within the timeout.
            with attempt_scope(deadline=time.monotonic() + idle, cancel=walk.cancel):
                delta = next(text_stream, None)
    except GeneratorExit:
        text_stream.close()
        stopped = Cancelled(
            "the caller stopped reading the stream", provider=attempt.step.route.provider
        )
        walk.failed(attempt, stopped)
        walk.finish()
        raise
    except Exception as exc:
        text_stream.close()
        error = walk.error(exc, attempt)
        if error.kind == TimedOut.kind:
            error = walk.timed_out(attempt, stalled=True)
        walk.failed(attempt, error)
        failure = walk.failure(after_first_token=True)
        failure.log_error = walk.finish()
        raise failure from exc
    done(_streamed(walk, attempt, parts, text_stream.result))


def _streamed(walk: Walk, attempt: Try, parts: list[str], result: TextResult | None) -> TaskRun:
    text = "".join(parts)
    if result is None:
        result = TextResult(text=text, model=attempt.step.route.model, usage=Usage(), latency_ms=0)
    task_run = walk.succeeded(attempt, result, text=text)
    log_error = walk.finish()
    return replace(task_run, log_error=log_error) if log_error else task_run
