"""The floor under the gateway bench: uvicorn and the official async SDK, nothing else.

`bench.gateway` runs this ASGI app beside the gateway, under the same uvicorn, and
times it the same way. It does the least any gateway built on uvicorn and the OpenAI
SDK must do to forward a chat completion: read the request, send it to the provider
with `AsyncOpenAI.post` (as the gateway's adapter does, answers read as plain JSON),
and pass the answer or the stream's chunks on (the first token in one write with the
opening chunk, as the gateway does). No token, no task, no fallback, no log. What the
gateway adds above this is ours to cut; what this adds over calling the provider
directly is the price of the extra HTTP hop through Python.
"""

from __future__ import annotations

import json
import os
from collections.abc import Awaitable, Callable
from typing import Any

import openai

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_client = openai.AsyncOpenAI(
    base_url=os.environ["OPENAI_BASE_URL"], api_key=os.environ["OPENAI_API_KEY"], max_retries=0
)
_MODEL = os.environ["AI_TEXT_MODEL"]


def _event(data: object) -> bytes:
    return b"data: " + json.dumps(data).encode() + b"\n\n"


def _has_text(chunk: Any) -> bool:
    choices = chunk.get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


async def _read_body(receive: Receive) -> bytes:
    parts = []
    while True:
        message = await receive()
        parts.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(parts)


async def application(scope: Scope, receive: Receive, send: Send) -> None:
    """Forward `POST /v1/chat/completions` to the provider; `GET /v1/models` answers []."""
    if scope["type"] != "http":
        return
    raw = await _read_body(receive)
    if scope["method"] != "POST":
        await _answer(send, b'{"object": "list", "data": []}')
        return
    request = json.loads(raw)
    body: dict[str, Any] = {"model": _MODEL, "messages": request["messages"]}
    if not request.get("stream"):
        answer = await _client.post("/chat/completions", body=body, cast_to=object)
        await _answer(send, json.dumps(answer).encode())
        return
    body |= {"stream": True, "stream_options": {"include_usage": True}}
    stream = await _client.post(
        "/chat/completions",
        body=body,
        cast_to=object,
        stream=True,
        stream_cls=openai.AsyncStream[object],
    )
    held = b""  # the chunks before the first token, sent with it
    started = False
    async for chunk in stream:
        if not started and not _has_text(chunk):
            held += _event(chunk)
            continue
        if not started:
            headers = [(b"content-type", b"text/event-stream")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            started = True
        await send({"type": "http.response.body", "body": held + _event(chunk), "more_body": True})
        held = b""
    if not started:  # an empty answer
        headers = [(b"content-type", b"text/event-stream")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": held + b"data: [DONE]\n\n"})


async def _answer(send: Send, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})
