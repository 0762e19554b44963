"""The call-log writer: one thread per process that writes the rows calls hand it.

A call hands its log rows over and returns its answer; writing them (an insert and a
rollup upsert in one transaction, about 0.3 ms on SQLite) happens here, off the
caller's path, while the caller moves on. Writes run one at a time, in the order
they were handed over. `wait_for_writes()` blocks until everything handed over so
far is done: the CLI calls it before printing, the gateway's budget check before
reading spend, tests before reading the log. At exit the queue is drained (the
thread pool joins its worker before `atexit` handlers run), and a forked child starts
a writer of its own (the parent's thread does not exist there).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

_here = threading.local()


def _mark_writer_thread() -> None:
    _here.writer = True


def _new_writer() -> ThreadPoolExecutor:
    # One worker: rows are written in the order their calls ended.
    return ThreadPoolExecutor(
        max_workers=1, thread_name_prefix="aiconfig-call-log", initializer=_mark_writer_thread
    )


_writer = _new_writer()


def _after_fork_in_child() -> None:
    global _writer
    _writer = _new_writer()


os.register_at_fork(after_in_child=_after_fork_in_child)


def on_writer_thread() -> bool:
    """True on the writer thread itself, where a write is done at once, not queued again.

    Queued again, it would land behind a `wait_for_writes` already waiting for this
    very write, which would return before the rows are in.
    """
    return getattr(_here, "writer", False)


def write_soon(write: Callable[[], object]) -> Future[object]:
    """Run `write` on the writer thread, after every write handed over before it."""
    return _writer.submit(write)


def wait_for_writes(timeout: float | None = None) -> None:
    """Block until every write handed over so far is done (from a thread, not the loop)."""
    _writer.submit(lambda: None).result(timeout)
