"""A wall-clock deadline and a cancel switch for one attempt, enforced at the socket.

An HTTP client's timeouts are per operation: a read that returns one byte resets
the clock, so a provider trickling its body can hold a "5 second" request for
minutes. Here every socket operation made while an `attempt_scope` is active gets
its timeout shrunk to what is left of the attempt's deadline, and fails at once
once the deadline has passed; a `CancelToken` shuts the attempt's sockets down
from any thread, which wakes a read blocked on them.

The scope travels in a context variable, so the SDKs need to know nothing about
it: the sync SDK clients get an HTTP client whose connections come from
`DeadlineBackend` (see `_common.build_http_client`). Async calls don't need this:
`asyncio.timeout` and task cancellation already bound and stop them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

import httpcore2


class CancelToken:
    """A handle the caller keeps to stop a running call from any thread.

    `cancel()` closes the provider connection of the attempt in flight at once and
    stops the call from starting another attempt.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    @property
    def cancelled(self) -> bool:
        """True once `cancel()` has been called."""
        return self._event.is_set()

    def cancel(self) -> None:
        """Stop the call: close its provider connection now. Safe to call more than once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def wait(self, seconds: float) -> bool:
        """Sleep up to `seconds`, waking early on cancel; True when cancelled."""
        return self._event.wait(seconds)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` on cancel (at once if already cancelled); returns an unsubscriber."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)

                def remove() -> None:
                    with self._lock, contextlib.suppress(ValueError):
                        self._callbacks.remove(callback)

                return remove
        callback()
        return lambda: None


class AttemptScope:
    """The deadline and cancel token of the attempt running in this context."""

    __slots__ = ("_lock", "_sockets", "cancel", "deadline")

    def __init__(self, deadline: float | None, cancel: CancelToken | None) -> None:
        # `deadline` is a `time.monotonic()` value.
        self.deadline = deadline
        self.cancel = cancel
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def timeout(self, timeout: float | None, expired: type[Exception]) -> float | None:
        """`timeout` shrunk to the time left; raises `expired` (or a cancel) when none is."""
        if self.cancel is not None and self.cancel.cancelled:
            raise httpcore2.ReadError("the request was cancelled by the caller")
        if self.deadline is None:
            return timeout
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise expired("the attempt's deadline has passed")
        return left if timeout is None else min(timeout, left)

    @contextlib.contextmanager
    def using(self, sock: socket.socket | None) -> Iterator[None]:
        """Mark `sock` as in use by this attempt, so a cancel can shut it down."""
        if sock is None or self.cancel is None:
            yield
            return
        with self._lock:
            self._sockets.add(sock)
        try:
            yield
        finally:
            with self._lock:
                self._sockets.discard(sock)

    def abort(self) -> None:
        """Shut down every socket this attempt is blocked on (wakes their reads)."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


_scope: ContextVar[AttemptScope | None] = ContextVar("adapters_attempt_scope", default=None)


@contextlib.contextmanager
def attempt_scope(
    *, deadline: float | None, cancel: CancelToken | None = None
) -> Iterator[AttemptScope]:
    """Run the enclosed SDK calls under `deadline` (monotonic seconds) and `cancel`."""
    scope = AttemptScope(deadline, cancel)
    unsubscribe = cancel.on_cancel(scope.abort) if cancel is not None else None
    token = _scope.set(scope)
    try:
        yield scope
    finally:
        _scope.reset(token)
        if unsubscribe is not None:
            unsubscribe()


class _DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every read and write honours the current attempt's scope."""

    def __init__(self, inner: httpcore2.NetworkStream) -> None:
        self._inner = inner
        self._sock: socket.socket | None = inner.get_extra_info("socket")

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        scope = _scope.get()
        if scope is None:
            return self._inner.read(max_bytes, timeout)
        timeout = scope.timeout(timeout, httpcore2.ReadTimeout)
        with scope.using(self._sock):
            data = self._inner.read(max_bytes, timeout)
        if not data and scope.cancel is not None and scope.cancel.cancelled:
            raise httpcore2.ReadError("the request was cancelled by the caller")
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        scope = _scope.get()
        if scope is None:
            self._inner.write(buffer, timeout)
            return
        timeout = scope.timeout(timeout, httpcore2.WriteTimeout)
        with scope.using(self._sock):
            self._inner.write(buffer, timeout)

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore2.NetworkStream:
        scope = _scope.get()
        if scope is not None:
            timeout = scope.timeout(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore2.NetworkBackend):
    """Opens connections that honour the attempt scope (see the module docstring)."""

    def __init__(self, inner: httpcore2.NetworkBackend | None = None) -> None:
        self._inner = inner if inner is not None else httpcore2.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        scope = _scope.get()
        if scope is not None:
            timeout = scope.timeout(timeout, httpcore2.ConnectTimeout)
        stream = self._inner.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        scope = _scope.get()
        if scope is not None:
            timeout = scope.timeout(timeout, httpcore2.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)
