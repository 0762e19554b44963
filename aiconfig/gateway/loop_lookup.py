"""The token check's statement run on the event loop itself: no thread hop.

Every gateway request reads its token's row and the configuration version (one
statement, `aiconfig.selectors.find_token_at_version`). From a thread that costs a hop
there and back (~0.25 ms, more on a busy machine, whose scheduler must wake the
thread) and runs ~3x slower than the same code on the loop, which is warm. So the
fast path runs it on the loop, on a connection of its own (opened once per process):
on SQLite a blocking read of a local file (~20 µs), on PostgreSQL a query awaited on
psycopg's async connection, which never stalls the streams the loop is serving.
`aiconfig.gateway.access.authorize_in_memory` then decides, or hands the request to
the full check in a thread when something needs the database (a budget, a rate limit).

Other databases keep the thread: `find` answers None and the thread does it all, as
before. A failing statement closes the connection (the next request opens another)
and also answers None.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from asgiref.sync import sync_to_async
from django.db import DEFAULT_DB_ALIAS, connections

from aiconfig.models import ApiToken
from aiconfig.selectors import hash_secret
from aiconfig.selectors.tokens import token_from_row, token_lookup_sql

logger = logging.getLogger("aiconfig.gateway")


class _LoopConnection:
    """The loop's own connection: SQLite's DB-API one, or an async psycopg one.

    Django refuses its own cursors on an event loop. SQLite's raw connection (made
    with `check_same_thread=False` by Django) is a local file: a blocking read of tens
    of microseconds. PostgreSQL's is psycopg's `AsyncConnection`, awaited, so the loop
    serves other requests during the round trip; it gets Django's connection settings
    and type adapters, so rows convert as the ORM's do. One user at a time: the lock is
    only tried, and a request that finds it taken goes to the thread instead.
    """

    def __init__(self) -> None:
        self.wrapper: Any = None
        self.aconn: Any = None
        self.sql = ""
        self.busy = threading.Lock()

    async def open(self) -> None:
        """Connect: SQLite in a thread (Django's backend sets it up), PostgreSQL awaited."""
        if on_sqlite():
            await sync_to_async(self._open_sqlite)()
            return
        import psycopg

        wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
        params = wrapper.get_connection_params()
        params.pop("cursor_factory", None)  # Django's, for its blocking connection
        self.aconn = await psycopg.AsyncConnection.connect(**params, autocommit=True)
        self.sql = token_lookup_sql(db=wrapper)
        self.wrapper = wrapper

    def _open_sqlite(self) -> None:
        wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
        wrapper.ensure_connection()
        # The backend's own cursor turns `%s` into sqlite3's `?`; the raw one does not.
        self.sql = token_lookup_sql(db=wrapper).replace("%s", "?")
        self.wrapper = wrapper

    async def close(self) -> None:
        wrapper, aconn = self.wrapper, self.aconn
        self.wrapper = self.aconn = None
        try:
            if aconn is not None:
                await aconn.close()
            elif wrapper is not None and wrapper.connection is not None:
                wrapper.connection.close()
        except Exception:  # already broken: nothing more to release
            logger.debug("Closing the loop's database connection failed", exc_info=True)

    async def lookup(self, secret: str) -> tuple[ApiToken | None, int]:
        if self.aconn is not None:
            async with self.aconn.cursor() as cursor:
                await cursor.execute(self.sql, (hash_secret(secret),))
                row = await cursor.fetchone()
            return token_from_row(row=row, db=self.wrapper)
        cursor = self.wrapper.connection.cursor()
        try:
            cursor.execute(self.sql, (hash_secret(secret),))
            row = cursor.fetchone()
        finally:
            # Ends the statement, hence the read transaction: the next request must see
            # a revocation committed meanwhile.
            cursor.close()
        return token_from_row(row=row, db=self.wrapper)


_connection = _LoopConnection()


def _engine() -> str:
    return str(connections.settings[DEFAULT_DB_ALIAS]["ENGINE"])


def on_sqlite() -> bool:
    """Whether the default database is SQLite."""
    return _engine().endswith("sqlite3")


def usable() -> bool:
    """Whether the lookup can run on the loop here: SQLite, or PostgreSQL without a role
    to assume (the loop's connection would not take it on)."""
    if on_sqlite():
        return True
    options = connections.settings[DEFAULT_DB_ALIAS].get("OPTIONS") or {}
    return _engine().endswith("postgresql") and not options.get("assume_role")


async def find(secret: str) -> tuple[ApiToken | None, int] | None:
    """`find_token_at_version` on the event loop; None when it must be done in a thread."""
    if not secret or not usable() or not _connection.busy.acquire(blocking=False):
        return None
    try:
        if _connection.wrapper is None:
            await _connection.open()
        return await _connection.lookup(secret)
    except Exception:
        logger.warning("Token lookup on the event loop failed; using a thread", exc_info=True)
        await _connection.close()
        return None
    finally:
        _connection.busy.release()
