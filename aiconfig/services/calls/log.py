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
import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, connections, router
from django.db import Error as DatabaseFailure  # DatabaseError and InterfaceError alike

from adapters import AdapterError, Usage, redact
from aiconfig.models import CallLog, CallOutcome, Channel
from aiconfig.services.calls.plan import Step
from aiconfig.services.calls.results import Attempt, Cancelled
from aiconfig.services.history import User, known_user
from aiconfig.services.rollup import add_to_rollup
from aiconfig.snapshots import TaskConfig

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
    rows: list[CallLog] = field(default_factory=list)
    api_token: str = field(default_factory=API_TOKEN.get)

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
            CallLog(
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
                user=known_user(self.user),
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
        """Write the rows; a failure is returned (and logged, counted, retried), never raised."""
        return write_rows(self.rows, task=self.task.task, request_id=self.request_id)


# --- writing ----------------------------------------------------------------------------

_LOG_FIELDS = tuple(f for f in CallLog._meta.concrete_fields if not f.primary_key)


def insert_call_log(rows: Sequence[CallLog], *, using: Any = None) -> None:
    """Insert call-log rows and add them to the usage rollup, in one transaction.

    On `using`, a connection (default: the log's). The rollup is updated in the same
    transaction as the insert so the two never drift: both are written or neither.
    """
    if not rows:
        return
    connection = using if using is not None else log_connection()
    if connection.vendor == "postgresql":
        # One statement (the insert as a data-modifying WITH): atomic on its own.
        add_to_rollup(rows, connection=connection, with_statement=_insert_sql(rows, connection))
        return
    if not connection.get_autocommit():
        # Already inside a transaction (a test's): it commits or rolls back both.
        _insert_rows(rows, connection)
        add_to_rollup(rows, connection=connection)
        return
    connection.set_autocommit(False)
    try:
        _insert_rows(rows, connection)
        add_to_rollup(rows, connection=connection)
        connection.commit()
    except BaseException:
        with contextlib.suppress(DatabaseFailure):
            connection.rollback()
        raise
    finally:
        with contextlib.suppress(DatabaseFailure):
            connection.set_autocommit(True)


def _insert_rows(rows: Sequence[CallLog], connection: Any) -> None:
    """Insert call-log rows with one statement."""
    sql, params = _insert_sql(rows, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_sql(rows: Sequence[CallLog], connection: Any) -> tuple[str, list[Any]]:
    """The one INSERT of call-log rows, and its parameters.

    This is on every call's path: `bulk_create` spends ~0.2 ms compiling SQL and
    opening a transaction for a single row, five times the insert itself. Values
    still go through each field's own database preparation, so types come out as
    the ORM would write them on any backend.
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _LOG_FIELDS)
    one_row = "(" + ", ".join(["%s"] * len(_LOG_FIELDS)) + ")"
    sql = (
        f"INSERT INTO {quote(CallLog._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([one_row] * len(rows))}"
    )
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _LOG_FIELDS
    ]
    return sql, params


_own = threading.local()
_all_own: set[Any] = set()
_all_own_lock = threading.Lock()


def _own_connection(alias: str) -> Any:
    """This thread's private connection for log rows: autocommit, short SQLite busy wait."""
    connection = getattr(_own, alias, None)
    if connection is None:
        connection = connections.create_connection(alias)
        # So `close_log_connections` may close it from another thread (tests, shutdown).
        connection.inc_thread_sharing()
        setattr(_own, alias, connection)
        with _all_own_lock:
            _all_own.add(connection)
    if connection.connection is None:
        connection.ensure_connection()
        if connection.vendor == "sqlite":
            busy_ms = int(float(settings.AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS) * 1000)
            connection.connection.execute(f"PRAGMA busy_timeout = {busy_ms}")
    return connection


def _drop_own_connection(alias: str) -> None:
    connection = getattr(_own, alias, None)
    if connection is not None:
        setattr(_own, alias, None)
        with _all_own_lock:
            _all_own.discard(connection)
        with contextlib.suppress(DatabaseFailure):
            connection.close()


def close_log_connections() -> None:
    """Close every thread's log connection (before dropping a database, at shutdown)."""
    with _all_own_lock:
        owned = list(_all_own)
        _all_own.clear()
    for connection in owned:
        with contextlib.suppress(DatabaseFailure):
            connection.close()
    _own.__dict__.clear()


def _close_if_obsolete(**kwargs: Any) -> None:
    # Like Django's own connections: closed at the end of a request unless CONN_MAX_AGE
    # keeps them, so a web worker never holds an idle connection per thread forever.
    for alias in list(_own.__dict__):
        connection = getattr(_own, alias, None)
        if connection is not None and connection.connection is not None:
            connection.close_if_unusable_or_obsolete()


request_started.connect(_close_if_obsolete, dispatch_uid="aiconfig-call-log-connections-start")
request_finished.connect(_close_if_obsolete, dispatch_uid="aiconfig-call-log-connections-end")


def _caller_in_transaction(connection: Any) -> bool:
    # A test case wraps each test in atomic blocks of its own; those are not the
    # caller's transaction (and rows must roll back with the test).
    return connection.in_atomic_block and not all(
        getattr(block, "_from_testcase", False) for block in connection.atomic_blocks
    )


def log_connection() -> Any:
    """The connection log rows go through (see the module docstring)."""
    alias = router.db_for_write(CallLog)
    caller = connections[alias]
    if caller.in_atomic_block and not _caller_in_transaction(caller):
        return caller  # inside a test's own transaction
    return _own_connection(alias)


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
        self.rows: collections.deque[CallLog] = collections.deque()
        self.delayed = 0
        self.lost = 0
        self.last_error = ""
        self.retrying = False

    def keep(self, rows: Sequence[CallLog], error: str) -> int:
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

    def take(self) -> list[CallLog]:
        with self.lock:
            rows = list(self.rows)
            self.rows.clear()
        return rows

    def put_back(self, rows: list[CallLog]) -> None:
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


def write_rows(rows: Sequence[CallLog], *, task: str, request_id: uuid.UUID) -> str | None:
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
