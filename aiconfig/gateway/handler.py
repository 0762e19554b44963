"""The gateway's fast path: /v1/ served straight from ASGI, without Django's handler.

For each request Django's ASGI handler spools the body to a temporary file, starts
a fresh thread for the request's synchronous work (so each request opens, and its
`request_finished` signal closes, its own database connections: two connects, a
dozen PRAGMAs and two closes per call on SQLite), and sends the request signals
through more thread hops. Measured over HTTP, that was most of the 10-15 ms the
gateway added to a call. `aiconfig.asgi` sends /v1/ here instead:

- the body is read (up to DATA_UPLOAD_MAX_MEMORY_SIZE) into a `LeanRequest` and the
  path's view is called directly: the same views `aiconfig.gateway.urls` routes
  under `make run` and Django's test client, so both paths answer alike;
- database work runs in one long-lived thread per process (asgiref's shared
  executor), whose connections stay open between requests (a broken one is closed
  and reopened by the token check): the token check (which also reads the
  configuration the call then runs on; on SQLite its statement runs on the loop
  instead, `aiconfig.gateway.loop_lookup`, and only what needs more of the database
  goes to the thread) and the call-log rows, which are handed to a writer thread of
  their own after the response has been sent and are written before the request ends
  (`aiconfig.services.calls.log_later`), so neither the client nor the next request's
  token check waits for a commit;
- a client that hangs up before its answer is complete cancels the view's task,
  which closes the provider request and logs the attempt `cancelled`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils.datastructures import CaseInsensitiveMapping

from aiconfig.gateway import anthropic_api, openai_api
from aiconfig.gateway.wire import LeanRequest
from aiconfig.services.calls.log_later import defer_log_writes, write_deferred

PREFIX = "/v1/"

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
View = Callable[[LeanRequest], Awaitable[HttpResponse]]

# The same views as aiconfig/gateway/urls.py; any other path is a 404 in OpenAI's format.
ROUTES: dict[str, View] = {
    "/v1/chat/completions": openai_api.chat_completions,
    "/v1/models": openai_api.models,
    "/v1/images/generations": openai_api.images,
    "/v1/messages": anthropic_api.messages,
}


async def read_request(scope: Scope, receive: Receive) -> LeanRequest | None:
    """The request, body read whole; None when the client hung up first.

    A body over DATA_UPLOAD_MAX_MEMORY_SIZE is read to its end but not kept: the view
    answers 413, as it does under Django's handler.
    """
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    chunks: list[bytes] = []
    size = 0
    too_big = False
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            too_big = True
            chunks.clear()
        elif chunk:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    headers = CaseInsensitiveMapping(
        {name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]}
    )
    return LeanRequest(
        method=scope["method"],
        path=scope["path"],
        headers=headers,
        body=None if too_big else b"".join(chunks),
    )


async def send_response(response: HttpResponse, send: Send) -> None:
    """Send a view's response: whole with its length, or chunk by chunk as it streams."""
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.items()]
    if not response.streaming:
        body = response.content
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": response.status_code,
                    "headers": headers})  # fmt: skip
        await send({"type": "http.response.body", "body": body})
        return
    await send({"type": "http.response.start", "status": response.status_code,
                "headers": headers})  # fmt: skip
    if response.is_async:
        async for chunk in response.streaming_content:  # type: ignore[union-attr]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    else:
        for chunk in response.streaming_content:  # type: ignore[union-attr]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


class _Exchange:
    """One request being answered: whether its response has been sent in full."""

    def __init__(self, view: View, request: LeanRequest, send: Send) -> None:
        self.view = view
        self.request = request
        self.send = send
        self.answered = False

    async def serve(self) -> None:
        # Log rows of the calls the view makes wait until the answer is out; they are
        # queued to the call-log writer right after the last byte is handed to the
        # server (no await in between), so they are queued before the client's next
        # request arrives (a budget check waits for them: it counts the call just made).
        pending = defer_log_writes()
        try:
            response = await self.view(self.request)
            await send_response(response, self.send)
            self.answered = True
        finally:
            await write_deferred(pending)


async def _hang_up(receive: Receive) -> None:
    """Until the server reports the client gone (or, once answered, the request done)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def serve_gateway(scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one /v1/ request on the fast path (see the module docstring)."""
    request = await read_request(scope, receive)
    if request is None:
        return
    exchange = _Exchange(ROUTES.get(scope["path"], openai_api.not_found), request, send)
    serving = asyncio.create_task(exchange.serve())
    watching = asyncio.create_task(_hang_up(receive))
    try:
        await asyncio.wait((serving, watching), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        watching.cancel()
        serving.cancel()
        raise
    watching.cancel()
    if serving.done() or exchange.answered:
        await serving  # its errors, if any, are the server's to log
        return
    # The client hung up before its answer was complete: stop the view, which closes
    # the provider request and logs the attempt `cancelled`.
    serving.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await serving


def with_gateway(application: Any) -> Any:
    """`application`, with HTTP requests under /v1/ served by the fast path."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await serve_gateway(scope, receive, send)
        else:
            await application(scope, receive, send)

    return route
