"""The connections call-log rows go through: one per thread, in autocommit.

Outside a test's own transaction, rows never use the caller's connection, so a
caller's rollback cannot take them along. On SQLite each connection waits at most
`AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS` for another writer. They close at the end of
a request like Django's own (unless CONN_MAX_AGE keeps them).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import Error as DatabaseFailure  # DatabaseError and InterfaceError alike
from django.db import connections, router

from aiconfig.models import CallLog

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
