"""The call log: one row per attempt, written outside the caller's transaction.

Rows go through a connection of their own, in autocommit, after the provider has
answered: a caller's rollback cannot take them along, and no provider request is
ever made while this code holds a database lock. On SQLite the insert waits at most
`AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS` for another writer. Rows that still cannot
be written are kept in memory, retried in the background and counted
(`call_log_health()`, shown on the Usage page); the caller gets its result anyway.
"""

from __future__ import annotations

import atexit
import collections
import contextvars
import functools
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections, router
from django.db import Error as DatabaseFailure  # DatabaseError and InterfaceError alike

from adapters import AdapterError, Usage, redact
from aiconfig.log_row import LogRow, RowValues
from aiconfig.models import CallLog, CallOutcome, Channel
from aiconfig.services.alerts import check_alerts_soon
from aiconfig.services.calls.log_connections import (
    _caller_in_transaction,
    _drop_own_connection,
    _own_connection,
    close_log_connections,
    log_connection,
)
from aiconfig.services.calls.log_insert import insert_call_log
from aiconfig.services.calls.log_writer import on_writer_thread, wait_for_writes, write_soon
from aiconfig.services.calls.plan import Step
from aiconfig.services.calls.results import Attempt, Cancelled
from aiconfig.services.history import User, known_user
from aiconfig.snapshots import TaskConfig

# The connections and the insert live in `log_connections` and `log_insert`; their
# public names are re-exported here. `write_rows` looks `insert_call_log` up in this
# module, so patching it here (as the tests do) reaches every write.
__all__ = [
    "API_TOKEN",
    "CallRecord",
    "LogHealth",
    "call_log_health",
    "call_log_problem",
    "close_log_connections",
    "discard_backlog",
    "flush_backlog",
    "insert_call_log",
    "log_connection",
    "wait_for_call_log",
    "write_rows",
]

logger = logging.getLogger("aiconfig.services.calls")

_OUTCOMES = {"timed_out": CallOutcome.TIMED_OUT, Cancelled.kind: CallOutcome.CANCELLED}
# `Channel.values` rebuilds its list on every access; this is on every call's path.
_CHANNELS = frozenset(Channel.values)
# The API token a gateway request (/v1/) came with: set by the gateway for the request's
# context (asyncio tasks and sync_to_async threads inherit it), read when a call starts.
API_TOKEN: contextvars.ContextVar[str] = contextvars.ContextVar("aiconfig_api_token", default="")


@dataclass
class CallRecord:
    """The bookkeeping of one call: attempts so far and the log rows to write."""

    task: TaskConfig
    operation: str
    source: str
    user: User
    prompt: str
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    rows: list[LogRow] = field(default_factory=list)
    api_token: str = field(default_factory=API_TOKEN.get)

    @property
    def _user_id(self) -> int | None:
        user = known_user(self.user)
        return user.pk if user is not None else None

    def record(
        self,
        step: Step,
        *,
        latency_ms: float,
        error: AdapterError | None = None,
        usage: Usage | None = None,
        cost: Decimal | None = None,
        response_model: str = "",
        response: str = "",
    ) -> Attempt:
        """Note one attempt (and its log row)."""
        secrets = [step.provider.api_key()] if step.provider else []
        message = redact(str(error), secrets) if error else ""
        if error is None:
            outcome = CallOutcome.SUCCESS
        else:
            outcome = _OUTCOMES.get(error.kind, CallOutcome.ERROR)
        attempt = Attempt(
            provider=step.route.provider,
            model=step.route.model,
            attempt=len(self.attempts) + 1,
            is_fallback=step.position > 0,
            outcome=outcome,
            error_kind=error.kind if error else "",
            error=message,
            latency_ms=latency_ms,
        )
        self.attempts.append(attempt)
        keep_text = settings.AICONFIG_LOG_PROMPTS
        self.rows.append(
            LogRow(
                request_id=self.request_id,
                task=self.task.task,
                operation=self.operation,
                provider=attempt.provider,
                model=attempt.model,
                response_model=response_model[:200],
                attempt=attempt.attempt,
                is_fallback=attempt.is_fallback,
                outcome=attempt.outcome,
                error_kind=attempt.error_kind,
                error_message=message,
                latency_ms=round(latency_ms, 3),
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                image_count=usage.image_count if usage else 0,
                cache_read_tokens=usage.cache_read_tokens if usage else None,
                cache_write_tokens=usage.cache_write_tokens if usage else None,
                reasoning_tokens=usage.reasoning_tokens if usage else None,
                cost_usd=cost,
                source=self.source if self.source in _CHANNELS else Channel.CODE,
                user_id=self._user_id,
                prompt=self.prompt if keep_text else "",
                response=response if keep_text else "",
                api_token=self.api_token,
            )
        )
        return attempt

    def elapsed_ms(self) -> float:
        """Milliseconds since the call started."""
        return (time.perf_counter() - self.started) * 1000

    def write(self) -> str | None:
        """Hand the rows to the call-log writer; why they could not be, when known now.

        The writer thread writes them while the caller goes on (`log_writer`); a
        failure there is logged, counted and retried like any other. Rows are written
        here and now instead inside a transaction (a test's own, whose rows must roll
        back with it; or the caller's, where on SQLite they are kept until its write
        lock is gone and the reason is returned), and on an in-memory SQLite database,
        whose shared cache locks whole tables without waiting: a write from the
        writer's connection would make the caller's next write fail at once (Django's
        live server shares one connection there for the same reason).
        """
        rows, task, request_id = self.rows, self.task.task, self.request_id
        caller = connections[router.db_for_write(CallLog)]
        if caller.in_atomic_block or _in_memory(caller) or on_writer_thread():
            return write_rows_then_check_alerts(rows, task=task, request_id=request_id)
        try:
            write_soon(
                functools.partial(
                    write_rows_then_check_alerts, rows, task=task, request_id=request_id
                )
            )
        except RuntimeError:  # the interpreter is shutting down: no new work for threads
            return write_rows(rows, task=task, request_id=request_id)
        return None


def _in_memory(connection: Any) -> bool:
    return connection.vendor == "sqlite" and connection.is_in_memory_db()


# --- rows that could not be written -------------------------------------------------------

_PENDING_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class LogHealth:
    """How the call log is keeping up in this process (shown on the Usage page)."""

    delayed_rows: int
    lost_rows: int
    pending_rows: int
    last_error: str


class _Backlog:
    """Rows waiting to be written again, and the counts the Usage page shows."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.rows: collections.deque[RowValues] = collections.deque()
        self.delayed = 0
        self.lost = 0
        self.last_error = ""
        self.retrying = False

    def keep(self, rows: Sequence[RowValues], error: str) -> int:
        with self.lock:
            self.delayed += len(rows)
            self.last_error = error
            self.rows.extend(rows)
            overflow = max(0, len(self.rows) - _PENDING_LIMIT)
            for _ in range(overflow):
                self.rows.popleft()
            self.lost += overflow
        if overflow:
            logger.error("Call log backlog full: %d row(s) dropped", overflow)
        return overflow

    def take(self) -> list[RowValues]:
        with self.lock:
            rows = list(self.rows)
            self.rows.clear()
        return rows

    def put_back(self, rows: list[RowValues]) -> None:
        with self.lock:
            self.rows.extendleft(reversed(rows))


_backlog = _Backlog()


def call_log_health() -> LogHealth:
    """Rows delayed, lost and still waiting in this process since it started."""
    with _backlog.lock:
        return LogHealth(
            delayed_rows=_backlog.delayed,
            lost_rows=_backlog.lost,
            pending_rows=len(_backlog.rows),
            last_error=_backlog.last_error,
        )


def write_rows_then_check_alerts(
    rows: Sequence[RowValues], *, task: str, request_id: uuid.UUID
) -> str | None:
    """Write rows, then check budgets and alert rules (throttled) on what they now hold.

    Checked after the write, not when the rows are handed over, so a budget crossed
    by this very call is seen by the check it starts.
    """
    log_error = write_rows(rows, task=task, request_id=request_id)
    check_alerts_soon()  # throttled: a clock read on almost every call
    return log_error


def write_rows(rows: Sequence[RowValues], *, task: str, request_id: uuid.UUID) -> str | None:
    """Write rows (and any backlog); on failure keep them for a retry and say so."""
    if not rows:
        return None
    alias = router.db_for_write(CallLog)
    caller = connections[alias]
    # Inside a test's own transaction rows go with the test; nothing is kept for later.
    in_test = caller.in_atomic_block and not _caller_in_transaction(caller)
    backlog = _backlog.take() if _backlog.rows and not in_test else []
    try:
        if in_test:
            insert_call_log(rows, using=caller)
        elif caller.vendor == "sqlite" and _caller_in_transaction(caller):
            # The caller's own transaction holds SQLite's only write lock: waiting on it
            # from here would wait on ourselves. Keep the rows until it has ended.
            raise DatabaseError("the caller's open transaction holds the SQLite write lock")
        else:
            insert_call_log([*backlog, *rows], using=_own_connection(alias))
    except DatabaseFailure as exc:
        logger.error(
            "Could not write %d call-log row(s) for task %r (request %s): %s",
            len(rows),
            task,
            request_id,
            exc,
        )
        if in_test:
            with _backlog.lock:
                _backlog.delayed += len(rows)
                _backlog.lost += len(rows)
                _backlog.last_error = str(exc)
            return f"call log not written: {exc}"
        _drop_own_connection(alias)
        _backlog.put_back(backlog)
        _backlog.keep(rows, str(exc))
        _start_retrying()
        return f"call log not written yet: {exc} (kept and retried)"
    return None


def wait_for_call_log(timeout: float | None = None) -> LogHealth:
    """Block until the rows of every call ended so far are written (or kept for a retry).

    Calls return before their rows are written (`CallRecord.write`); code that reads
    the log right after a call (a CLI printing what it logged, a test) waits here.
    Returns the log's health, whose `delayed_rows` tells whether any could not be.
    """
    wait_for_writes(timeout)
    return call_log_health()


def call_log_problem(*, since: LogHealth, health: LogHealth) -> str | None:
    """Why rows handed over between two health readings were not written, if any were not."""
    if health.delayed_rows <= since.delayed_rows:
        return None
    return f"call log not written yet: {health.last_error} (kept and retried)"


def flush_backlog() -> int:
    """Try once to write the rows kept after failures; returns how many are still waiting."""
    rows = _backlog.take()
    if rows:
        try:
            insert_call_log(rows, using=_own_connection(router.db_for_write(CallLog)))
        except DatabaseFailure as exc:
            _drop_own_connection(router.db_for_write(CallLog))
            _backlog.put_back(rows)
            with _backlog.lock:
                _backlog.last_error = str(exc)
        else:
            logger.warning("Wrote %d delayed call-log row(s)", len(rows))
    return len(_backlog.rows)


def discard_backlog() -> int:
    """Forget the kept rows (counted as lost); returns how many there were."""
    rows = _backlog.take()
    with _backlog.lock:
        _backlog.lost += len(rows)
    return len(rows)


def _start_retrying() -> None:
    with _backlog.lock:
        if _backlog.retrying:
            return
        _backlog.retrying = True
    threading.Thread(target=_retry_loop, name="aiconfig-call-log-retry", daemon=True).start()


def _retry_loop() -> None:
    # Only database writes happen here, never a provider request.
    delay = 0.25
    try:
        while _backlog.rows:
            time.sleep(delay)
            flush_backlog()
            delay = min(delay * 2, 5.0)
    finally:
        with _backlog.lock:
            _backlog.retrying = False
        _drop_own_connection(router.db_for_write(CallLog))


@atexit.register
def _last_try() -> None:
    if not _backlog.rows:
        return
    try:
        left = flush_backlog()
    except Exception:
        left = len(_backlog.rows)
    if left:
        lost = discard_backlog()
        logger.error("Call log: %d row(s) could not be written before exit and are lost", lost)
