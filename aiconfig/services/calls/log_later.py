"""Call-log rows from async code: written in one thread hop, or after the response.

Async calls write their rows off the event loop (`sync_to_async`). A request
handler that wants its answer out first (the HTTP gateway's fast path,
`aiconfig.gateway.handler`) opens a deferral for its task with `defer_log_writes()`;
calls made inside it queue their writes, and the handler hands them all to the
call-log writer thread with `write_deferred()` once the response has been sent,
before the request ends. The writer (`log_writer`) is a thread of its own so that
the next requests' token checks do not queue behind a commit; its
`wait_for_writes()` lets a check that needs the rows (a monthly budget) wait for
them. Nothing is dropped: a failed write goes to the call log's backlog as always
(`aiconfig.services.calls.log`), and the writer's queue is drained before the
process exits.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Awaitable, Callable

from asgiref.sync import sync_to_async

from aiconfig.services.calls.log_writer import write_soon

Write = Callable[[], str | None]

# The writes queued by the current request's task; None outside a deferral.
_DEFERRED: contextvars.ContextVar[list[Write] | None] = contextvars.ContextVar(
    "aiconfig_deferred_log_writes", default=None
)


def afinish(write: Write) -> Awaitable[str | None]:
    """Run `write` (a walk's `finish`) off the event loop, or queue it when deferred.

    Awaits to what `write` returns (why rows could not be written), or None when
    queued. The queueing happens at the call, not at the await, so a write handed to
    `asyncio.shield` by a cancelled caller is queued before the caller moves on.
    """
    pending = _DEFERRED.get()
    if pending is not None:
        pending.append(write)
        return _queued()
    return sync_to_async(write)()


async def _queued() -> None:
    return None


def defer_log_writes() -> list[Write]:
    """Queue the current task's log writes from now on; returns the queue to flush."""
    pending: list[Write] = []
    _DEFERRED.set(pending)
    return pending


def _write_all(pending: list[Write]) -> None:
    while pending:
        pending.pop(0)()


async def write_deferred(pending: list[Write]) -> None:
    """Hand every queued write to the writer thread, and wait until they are written.

    They are queued at once, before any await, so a request that comes after this
    one's answer finds them ahead of it; cancelling the wait does not stop them.
    """
    if pending:
        future = write_soon(functools.partial(_write_all, list(pending)))
        pending.clear()
        await asyncio.shield(asyncio.wrap_future(future))
