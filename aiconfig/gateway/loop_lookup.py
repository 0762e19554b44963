"""The token check's statement run on the event loop itself, on SQLite: no thread hop.

Every gateway request reads its token's row and the configuration version (one
statement, `aiconfig.selectors.find_token_at_version`). From a thread that costs a hop
there and back (~0.25 ms, more on a busy machine, whose scheduler must wake the
thread) and runs ~3x slower than the same code on the loop, which is warm. On SQLite
the statement reads a local file in ~20 µs, so the fast path runs it on the loop, on
a connection of its own (opened once per process, in a thread, by Django's backend);
`aiconfig.gateway.access.authorize_in_memory` then decides, or hands the request to the
full check in a thread when something needs the database (a budget, a rate limit).

On other databases the statement is a network round trip, which must not stall every
stream the loop is serving: `find` answers None and the thread does it all, as before.
A failing statement closes the connection (the next request opens another) and also
answers None.
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
    """A Django connection wrapper whose DB-API connection the loop uses directly.

    Django refuses its own cursors on an event loop; the raw sqlite3 connection (made
    with `check_same_thread=False` by Django) is fine, one user at a time: the lock is
    only tried, so a second loop (never under uvicorn) goes to the thread instead.
    """

    def __init__(self) -> None:
        self.wrapper: Any = None
        self.sql = ""
        self.busy = threading.Lock()

    def open(self) -> None:
        """Connect (in a thread: Django's backend sets the connection up)."""
        wrapper = connections.create_connection(DEFAULT_DB_ALIAS)
        wrapper.ensure_connection()
        # The backend's own cursor turns `%s` into sqlite3's `?`; the raw one does not.
        self.sql = token_lookup_sql(wrapper).replace("%s", "?")
        self.wrapper = wrapper

    def close(self) -> None:
        wrapper, self.wrapper = self.wrapper, None
        if wrapper is not None and wrapper.connection is not None:
            try:
                wrapper.connection.close()
            except Exception:  # already broken: nothing more to release
                logger.debug("Closing the loop's database connection failed", exc_info=True)

    def lookup(self, secret: str) -> tuple[ApiToken | None, int]:
        cursor = self.wrapper.connection.cursor()
        try:
            cursor.execute(self.sql, (hash_secret(secret),))
            row = cursor.fetchone()
        finally:
            # Ends the statement, hence the read transaction: the next request must see
            # a revocation committed meanwhile.
            cursor.close()
        return token_from_row(row, self.wrapper)


_connection = _LoopConnection()


def on_sqlite() -> bool:
    """Whether the default database is SQLite (the only one read on the loop)."""
    return bool(connections.settings[DEFAULT_DB_ALIAS]["ENGINE"].endswith("sqlite3"))


async def find(secret: str) -> tuple[ApiToken | None, int] | None:
    """`find_token_at_version` on the event loop; None when it must be done in a thread."""
    if not secret or not on_sqlite() or not _connection.busy.acquire(blocking=False):
        return None
    try:
        if _connection.wrapper is None:
            await sync_to_async(_connection.open)()
        return _connection.lookup(secret)
    except Exception:
        logger.warning("Token lookup on the event loop failed; using a thread", exc_info=True)
        _connection.close()
        return None
    finally:
        _connection.busy.release()
