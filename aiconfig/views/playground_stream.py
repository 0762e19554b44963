"""The playground's stream under ASGI (`make serve`, uvicorn): an async view, no thread held.

The columns run on the async call path (`services.playground_async`) and their
events leave from an async generator, so a server process holds many streams on
its event loop instead of a thread (plus one per column) for each. When the browser
goes away or presses Stop, the ASGI server hears the disconnect and cancels the
response: every column's provider request is closed and logged `cancelled`.

Under a WSGI server (`make run`, runserver) Django would buffer an async stream
whole, so requests from one go to the blocking view (`playground.blocking_stream`).
Permissions, CSRF (the middleware) and the saved run are the same on both paths.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.template.loader import render_to_string
from django.urls import reverse

from aiconfig.models import PlaygroundRun
from aiconfig.presenters import playground as present
from aiconfig.services.playground import Column
from aiconfig.services.playground_async import astream_run
from aiconfig.views.playground import TEMPLATE, _sse, blocking_stream, event_stream, start_stream


class EventStream:
    """Async iterator of SSE chunks produced by a task of its own, so it can always stop.

    Django's ASGI handler cancels the consumer on a disconnect, but it can catch the
    consumer while it is sending rather than waiting on us; and it calls `close()`
    (from a worker thread) once the request is over. Running the events in their own
    task lets either one cancel them, wherever they are.
    """

    def __init__(self, events: AsyncIterator[bytes]) -> None:
        self._events = events
        self._queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None

    def __aiter__(self) -> EventStream:
        return self

    async def _produce(self) -> None:
        try:
            async for chunk in self._events:
                self._queue.put_nowait(chunk)
        except Exception as exc:  # handed to the consumer, raised there
            self._error = exc
        finally:
            self._queue.put_nowait(None)

    async def __anext__(self) -> bytes:
        if self._task is None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.ensure_future(self._produce())
        try:
            chunk = await self._queue.get()
        except asyncio.CancelledError:
            self._task.cancel()
            raise
        if chunk is None:
            if self._error is not None:
                raise self._error
            raise StopAsyncIteration
        return chunk

    def close(self) -> None:
        """Stop the events (any thread); Django calls it when the request is over."""
        if self._task is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._task.cancel)


def _column_html(
    request: HttpRequest, run: PlaygroundRun, index: int, result: dict[str, Any]
) -> str:
    column = Column(result["task"], result["provider"], result["model"])
    # The earlier turns and the run's images, as the blocking view shows them.
    view = present.column_view(
        index, column, result, turns=run.turns, run_id=run.pk, prompt=run.prompt
    )
    return render_to_string(f"{TEMPLATE}#column_result", {"col": view}, request)


async def _events(request: HttpRequest, run: PlaygroundRun, user: Any) -> AsyncIterator[bytes]:
    url = reverse("playground_run", kwargs={"run_id": run.pk})
    yield _sse("run", {"id": run.pk, "url": url})
    async for event in astream_run(run=run, user=user):
        if event.result is None:
            yield _sse("delta", {"column": event.index, "text": event.delta})
        else:
            html = await sync_to_async(_column_html)(request, run, event.index, event.result)
            yield _sse("column", {"column": event.index, "html": html})
    yield _sse("done", {"id": run.pk, "url": url})


def _start(request: HttpRequest) -> tuple[HttpResponse | PlaygroundRun, Any]:
    started = start_stream(request)  # raises PermissionDenied without run_task
    user = request.user
    user.pk  # noqa: B018 - resolve the lazy user here, off the event loop
    return started, user


async def playground_stream(request: HttpRequest) -> HttpResponse:
    """Run the posted columns and stream their text as Server-Sent Events."""
    if not isinstance(request, ASGIRequest):
        return await sync_to_async(blocking_stream)(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    started, user = await sync_to_async(_start)(request)
    if isinstance(started, HttpResponse):
        return started
    return event_stream(EventStream(_events(request, started, user)))
