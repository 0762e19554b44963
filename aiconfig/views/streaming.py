"""Serving a blocking byte iterator as a live response under ASGI as well as WSGI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async


async def as_async(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Serve a blocking iterator under ASGI one chunk at a time.

    Django buffers a synchronous iterator whole before an ASGI server sends any of it,
    which would turn a streamed CSV into one late answer held in memory. Each chunk is
    fetched on the request's own sync thread; when the client disconnects the server
    cancels this generator, and the blocking iterator is closed on that same thread.
    """
    fetch = sync_to_async(next)
    done = object()
    try:
        while (chunk := await fetch(chunks, done)) is not done:
            yield chunk  # type: ignore[misc]
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            await sync_to_async(close)()
