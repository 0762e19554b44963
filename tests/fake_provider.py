"""A local HTTP server speaking enough of the OpenAI and Anthropic wire formats for the real SDKs.

Scenarios are chosen by the requested model name, so tests (and manual runs of the
app) can provoke failures through ordinary configuration:

- any ordinary model: success, with deterministic text and usage
- ``fail-500``, ``fail-503``, ``fail-529``, ``fail-400``, ``fail-401``: that HTTP status
- ``fail-429``: 429 with ``retry-after: 1``
- ``missing-*``: 404 model not found
- ``slow-<seconds>``: sleeps, then succeeds
- ``garbage``: HTTP 200 with an HTML body
- ``flaky-<n>``: the first n requests for the model (since ``reset()``) answer 503
- ``wrong-shape`` / ``not-json``: structured answers that miss the schema / are not JSON
- ``break-stream``: streams one delta, then drops the connection
- ``bad-arguments``: tool calls whose arguments are not a JSON object
- ``error-stream``: streams one delta, then an in-stream error event (overloaded)
- ``trickle-<seconds>``: sends the headers, then the body one byte every <seconds>
- ``trickle-image``: answers with an image URL whose download trickles (0.05 s a byte)
- ``hang``: accepts the request and never answers (until the client hangs up)
- ``late-first-token-<seconds>``: waits that long before the first byte of the answer
  (a stream sends its headers at once, then waits); ``late-first-token-<seconds>-stamped``
  also starts its first streamed word (OpenAI) with ``@<time.time() when sent> ``, so a
  client on the same machine can tell how long that token took to reach it
- ``stall-after-first``: streams one delta, then goes silent until the client hangs up
- ``drip-<seconds>``: streams its words <seconds> apart (a slow model, seen word by word)
- ``...cached-<n>`` (anywhere in the name, e.g. ``claude-sonnet-4-0-cached-1000-write-200``):
  succeeds reporting n prompt tokens read from the cache (``-write-<m>``: m written to it,
  Anthropic only) and ``...reasoning-<n>`` n reasoning tokens (OpenAI only), each in its
  API's own convention, plain and streamed

`disconnects` lists the models whose client hung up while the server was waiting or
trickling, so tests can prove that a timed-out or cancelled call closed its connection.

A key starting with ``sk-bad`` gets a 401 whose message echoes the full key, so
tests can prove that adapters redact it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import select
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

OPENAI = "openai"
ANTHROPIC = "anthropic"

OPENAI_MODELS = ("gpt-4o-mini", "gpt-4.1", "dall-e-3", "gpt-image-1")
ANTHROPIC_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None


def closed_port_url() -> str:
    """A URL on 127.0.0.1 where nothing listens (for connection-refused tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def make_png(width: int = 2, height: int = 2) -> bytes:
    """A real, tiny RGB PNG built with zlib/struct (no imaging library needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + tag
            + data
            + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixel = b"\xd0\x60\x20"
    rows = b"".join(b"\x00" + pixel * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG_BYTES = make_png()


def example_from_schema(
    schema: Mapping[str, Any],
    *,
    root: Mapping[str, Any] | None = None,
    name: str = "value",
    index: int = 1,
    _depth: int = 0,
) -> Any:
    """A deterministic instance of a JSON schema: all properties, 2+ array items, first enum."""
    root = schema if root is None else root
    if _depth > 32:
        return None

    def recurse(sub: Mapping[str, Any], sub_name: str = name, sub_index: int = 1) -> Any:
        return example_from_schema(
            sub, root=root, name=sub_name, index=sub_index, _depth=_depth + 1
        )

    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve_ref(root, ref)
        if target is not None:
            return recurse(target, name, index)
    if "const" in schema:
        return schema["const"]
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            usable = [
                o for o in options if not (isinstance(o, Mapping) and o.get("type") == "null")
            ]
            return recurse((usable or options)[0], name, index)
    all_of = schema.get("allOf")
    if isinstance(all_of, list) and all_of:
        merged: dict[str, Any] = {"type": "object", "properties": {}}
        for part in all_of:
            if isinstance(part, Mapping) and isinstance(part.get("$ref"), str):
                part = _resolve_ref(root, part["$ref"]) or {}
            if isinstance(part, Mapping):
                merged["properties"].update(part.get("properties", {}))
        return recurse(merged, name, index)

    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        if "properties" in schema:
            kind = "object"
        elif "items" in schema:
            kind = "array"
        else:
            kind = "string"

    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: recurse(sub, key) for key, sub in properties.items()}
    if kind == "array":
        items = schema.get("items") or {}
        count = max(2, int(schema.get("minItems", 0)))
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [recurse(items, name, i + 1) for i in range(count)]
    if kind == "integer":
        return _bounded(1, schema, step=1)
    if kind == "number":
        return float(_bounded(1.0, schema, step=1.0))
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _example_string(schema, name, index)


def _resolve_ref(root: Mapping[str, Any], ref: str) -> Mapping[str, Any] | None:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None


def _bounded(value: float, schema: Mapping[str, Any], *, step: float) -> Any:
    if "minimum" in schema:
        value = max(value, schema["minimum"])
    if "exclusiveMinimum" in schema:
        value = max(value, schema["exclusiveMinimum"] + step)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema:
        value = min(value, schema["exclusiveMaximum"] - step)
    return value


def _example_string(schema: Mapping[str, Any], name: str, index: int) -> str:
    formats = {
        "date-time": "2024-01-01T00:00:00Z",
        "date": "2024-01-01",
        "time": "00:00:00",
        "email": f"user{index}@example.com",
        "uri": f"https://example.com/{index}",
        "uuid": f"00000000-0000-4000-8000-{index:012d}",
    }
    text = formats.get(str(schema.get("format")), f"{name} {index}")
    if "minLength" in schema and len(text) < int(schema["minLength"]):
        text = text.ljust(int(schema["minLength"]), "x")
    if "maxLength" in schema:
        text = text[: int(schema["maxLength"])]
    return text


def _word_count(text: str) -> int:
    return len(text.split())


def _pieces(text: str) -> list[str]:
    """Split text into word-sized deltas whose concatenation is exactly `text`."""
    return [p for p in re.split(r"(?<=\s)(?=\S)", text) if p]


def _drip(model: str) -> None:
    """The pause after each streamed word of a ``drip-<seconds>`` model."""
    drip = re.fullmatch(r"drip-(\d+(?:\.\d+)?)", model)
    if drip:
        time.sleep(float(drip.group(1)))


def _text_of(content: Any) -> str:
    """Plain text inside a message content of either API (string, parts or blocks)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, Mapping):
                if part.get("type") == "text" and isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "tool_result":
                    texts.append(_text_of(part.get("content")))
        return " ".join(t for t in texts if t)
    return ""


def _truncate(text: str, limit: Any) -> tuple[str, bool]:
    """Cut `text` to `limit` words, as a token cap would."""
    if not isinstance(limit, int) or limit <= 0:
        return text, False
    words = text.split()
    if len(words) <= limit:
        return text, False
    return " ".join(words[:limit]), True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Hundreds of clients connect at once in `bench.gateway`; the default queue of 5
    # would drop their connection attempts, which the kernel retries a second later.
    request_queue_size = 512
    provider: FakeProvider

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out or hang up early make our writes fail; that is expected.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    # Idle keep-alive connections give up after this many seconds.
    timeout = 30

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle's
        # algorithm meets the client's delayed ACK and every response takes ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        self.server.provider._handle(self)

    def do_POST(self) -> None:
        self.server.provider._handle(self)

    def do_DELETE(self) -> None:
        self.server.provider._handle(self)

    # -- response helpers -----------------------------------------------------

    # Set per request by the model-driven scenarios.
    trickle: float = 0.0
    model: str = ""

    def send_bytes(
        self,
        status: int,
        data: bytes,
        *,
        content_type: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not self.trickle:
            self.wfile.write(data)
            self.wfile.flush()
            return
        self.wfile.flush()
        for index in range(len(data)):
            try:
                self.wfile.write(data[index : index + 1])
                self.wfile.flush()
            except OSError:
                self.server.provider._disconnected(self.model)
                raise
            time.sleep(self.trickle)

    def wait_for_hangup(self, limit: float = 30.0) -> bool:
        """Stay silent until the client closes the connection (True) or `limit` passes."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            readable, _, _ = select.select([self.connection], [], [], 0.02)
            if readable:
                try:
                    closed = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    closed = True
                if closed:
                    self.server.provider._disconnected(self.model)
                    self.close_connection = True
                    return True
        return False

    def send_json(
        self, status: int, payload: Any, *, headers: Mapping[str, str] | None = None
    ) -> None:
        self.send_bytes(
            status,
            json.dumps(payload).encode(),
            content_type="application/json",
            headers={"x-request-id": "req_fake", "request-id": "req_fake", **(headers or {})},
        )

    def start_sse(self) -> None:
        # Chunked, so that dropping the connection mid-body is detectably incomplete.
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        late = re.fullmatch(r"late-first-token-(\d+(?:\.\d+)?)(?:-stamped)?", self.model)
        if late and self.wait_for_hangup(float(late.group(1))):
            raise ConnectionAbortedError("the client hung up before the first token")

    def sse(self, data: str, *, event: str | None = None) -> None:
        text = (f"event: {event}\n" if event else "") + f"data: {data}\n\n"
        payload = text.encode()
        self.wfile.write(f"{len(payload):x}\r\n".encode() + payload + b"\r\n")
        self.wfile.flush()

    def end_sse(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class FakeProvider:
    """A threaded fake of the OpenAI and Anthropic HTTP APIs on 127.0.0.1 (random port)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._counts: dict[str, int] = {}
        self._ids = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._disconnects: list[str] = []

    # -- lifecycle ------------------------------------------------------------

    def start(self) -> Self:
        """Bind to a free port on 127.0.0.1 and serve from a background thread."""
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.provider = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:54321``."""
        if self._server is None:
            raise RuntimeError("FakeProvider is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def openai_base_url(self) -> str:
        """Base URL for the OpenAI SDK (it appends ``/chat/completions`` etc.)."""
        return self.url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for the Anthropic SDK (it appends ``/v1/messages`` itself)."""
        return self.url

    # -- inspection -----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of the requests received since the last `reset()`."""
        with self._lock:
            return list(self._requests)

    @property
    def disconnects(self) -> list[str]:
        """Models whose client hung up while the server was waiting or trickling."""
        with self._lock:
            return list(self._disconnects)

    def reset(self) -> None:
        """Forget recorded requests, disconnects and per-model counters."""
        with self._lock:
            self._requests.clear()
            self._counts.clear()
            self._disconnects.clear()

    def _disconnected(self, model: str) -> None:
        with self._lock:
            self._disconnects.append(model)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _bump(self, model: str) -> int:
        with self._lock:
            self._counts[model] = self._counts.get(model, 0) + 1
            return self._counts[model]

    def _next_id(self) -> int:
        with self._lock:
            self._ids += 1
            return self._ids

    # -- dispatch -------------------------------------------------------------

    def _handle(self, h: _Handler) -> None:
        h.trickle, h.model = 0.0, ""
        path = h.path.split("?", 1)[0]
        headers = {name.lower(): value for name, value in h.headers.items()}
        length = int(headers.get("content-length") or 0)
        raw = h.rfile.read(length) if length else b""
        body: dict[str, Any] | None = None
        bad_json = False
        if raw:
            try:
                parsed = json.loads(raw)
                body = parsed if isinstance(parsed, dict) else None
                bad_json = body is None
            except ValueError:
                bad_json = True
        self._record(RecordedRequest(method=h.command, path=path, headers=headers, body=body))

        flavor = (
            ANTHROPIC
            if path.startswith("/v1/messages")
            or "anthropic-version" in headers
            or "x-api-key" in headers
            else OPENAI
        )

        if h.command == "GET" and path.startswith("/files/"):
            if path.startswith("/files/trickle"):
                h.model, h.trickle = path.removeprefix("/files/"), 0.05
            h.send_bytes(200, PNG_BYTES, content_type="image/png")
            return

        key = headers.get("x-api-key") or ""
        auth = headers.get("authorization", "")
        if not key and auth.lower().startswith("bearer "):
            key = auth[7:].strip()
        if key.startswith("sk-bad"):
            self._error(h, flavor, 401, f"Incorrect API key provided: {key}")
            return

        if bad_json:
            self._error(h, flavor, 400, "We could not parse the JSON body of your request.")
            return

        route = (h.command, path)
        if route == ("GET", "/v1/models"):
            self._list_models(h, flavor)
        elif route == ("POST", "/v1/chat/completions") and body is not None:
            if not self._scenario(h, OPENAI, body):
                self._openai_chat(h, body)
        elif route == ("POST", "/v1/images/generations") and body is not None:
            if not self._scenario(h, OPENAI, body):
                self._openai_images(h, body)
        elif route == ("POST", "/v1/messages") and body is not None:
            if not self._scenario(h, ANTHROPIC, body):
                self._anthropic_messages(h, body)
        else:
            self._error(h, flavor, 404, f"Unknown request URL: {h.command} {path}.")

    # -- errors and model-driven scenarios -------------------------------------

    def _error(
        self,
        h: _Handler,
        flavor: str,
        status: int,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        anthropic_types = {
            400: "invalid_request_error",
            401: "authentication_error",
            403: "permission_error",
            404: "not_found_error",
            429: "rate_limit_error",
            529: "overloaded_error",
        }
        openai_types = {
            400: "invalid_request_error",
            401: "invalid_request_error",
            404: "invalid_request_error",
            429: "requests",
        }
        if flavor == ANTHROPIC:
            payload: dict[str, Any] = {
                "type": "error",
                "error": {"type": anthropic_types.get(status, "api_error"), "message": message},
                "request_id": "req_fake",
            }
        else:
            payload = {
                "error": {
                    "message": message,
                    "type": openai_types.get(status, "server_error"),
                    "param": None,
                    "code": code,
                }
            }
        h.send_json(status, payload, headers=headers)

    def _scenario(self, h: _Handler, flavor: str, body: Mapping[str, Any]) -> bool:
        """Act out a failure chosen by the model name; True when the response was sent."""
        model = str(body.get("model") or "")
        count = self._bump(model)
        h.model = model
        trickle = re.fullmatch(r"trickle-(\d+(?:\.\d+)?)", model)
        h.trickle = float(trickle.group(1)) if trickle else 0.0
        if model == "hang":
            h.wait_for_hangup()
            return True
        late = re.fullmatch(r"late-first-token-(\d+(?:\.\d+)?)(?:-stamped)?", model)
        if late and not body.get("stream") and h.wait_for_hangup(float(late.group(1))):
            return True
        simple = {
            "fail-500": (500, "The server had an error while processing your request."),
            "fail-503": (503, "The service is temporarily unavailable."),
            "fail-529": (529, "Overloaded"),
            "fail-400": (400, "Invalid request: something about it is wrong."),
            "fail-401": (401, "Invalid authentication."),
        }
        if model in simple:
            status, message = simple[model]
            self._error(h, flavor, status, message)
            return True
        if model == "fail-429":
            self._error(
                h,
                flavor,
                429,
                "Rate limit reached. Please try again in 1s.",
                headers={"retry-after": "1"},
                code="rate_limit_exceeded",
            )
            return True
        if model.startswith("missing"):
            if flavor == ANTHROPIC:
                message = f"model: {model}"
            else:
                message = f"The model `{model}` does not exist or you do not have access to it."
            self._error(h, flavor, 404, message, code="model_not_found")
            return True
        if model == "garbage":
            h.send_bytes(200, b"<html>not json</html>", content_type="text/html")
            return True
        if model == "odd-shape" and flavor == OPENAI:
            # JSON, but not the shape of a chat completion: a message that is a string,
            # streamed content that is a number.
            if body.get("stream"):
                h.start_sse()
                delta = {"index": 0, "delta": {"content": 42}, "finish_reason": None}
                h.sse(json.dumps({"id": "chatcmpl-odd", "model": model, "choices": [delta]}))
                h.sse("[DONE]")
                h.end_sse()
            else:
                choice = {"index": 0, "message": "hello", "finish_reason": "stop"}
                h.send_json(200, {"id": "chatcmpl-odd", "model": model, "choices": [choice]})
            return True
        flaky = re.fullmatch(r"flaky-(\d+)", model)
        if flaky and count <= int(flaky.group(1)):
            self._error(
                h, flavor, 503, "Temporarily unavailable, try again.", headers={"retry-after": "0"}
            )
            return True
        slow = re.fullmatch(r"slow-(\d+(?:\.\d+)?)", model)
        if slow:
            time.sleep(float(slow.group(1)))
        return False

    # -- models ---------------------------------------------------------------

    def _list_models(self, h: _Handler, flavor: str) -> None:
        if flavor == ANTHROPIC:
            data = [
                {
                    "type": "model",
                    "id": model,
                    "display_name": model.replace("-", " ").title(),
                    "created_at": "2025-09-29T00:00:00Z",
                }
                for model in ANTHROPIC_MODELS
            ]
            h.send_json(
                200,
                {
                    "data": data,
                    "has_more": False,
                    "first_id": data[0]["id"],
                    "last_id": data[-1]["id"],
                },
            )
        else:
            data = [
                {"id": model, "object": "model", "created": 1700000000, "owned_by": "fake"}
                for model in OPENAI_MODELS
            ]
            h.send_json(200, {"object": "list", "data": data})

    # -- OpenAI chat completions --------------------------------------------------

    def _openai_chat(self, h: _Handler, body: Mapping[str, Any]) -> None:
        model = str(body["model"])
        messages = body.get("messages") or []
        if not isinstance(messages, list) or not messages:
            self._error(h, OPENAI, 400, "'messages' must be a non-empty array.")
            return
        input_tokens = max(1, sum(_word_count(_text_of(m.get("content"))) for m in messages))
        last = messages[-1]
        tools = body.get("tools") or []
        response_format = body.get("response_format") or {}
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        cid = self._next_id()

        tool_calls: list[dict[str, Any]] | None = None
        finish = "stop"
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema") or {}
            text = self._structured_text(model, schema)
        elif tools and body.get("tool_choice") != "none" and last.get("role") == "user":
            function = tools[0].get("function") or {}
            arguments = json.dumps(example_from_schema(function.get("parameters") or {}))
            if model == "bad-arguments":
                arguments = "{not json"
            tool_calls = [
                {
                    "id": f"call_fake_{cid}",
                    "type": "function",
                    "function": {"name": function.get("name"), "arguments": arguments},
                }
            ]
            text = ""
            finish = "tool_calls"
        elif last.get("role") == "tool":
            text = f"Done: {_text_of(last.get('content'))}"
        else:
            text = self._hello(model, messages)
        text, cut = _truncate(text, limit)
        if cut:
            finish = "length"
        output_tokens = _word_count(text) or (
            _word_count(json.dumps(tool_calls)) if tool_calls else 0
        )
        cached, _, reasoning = _cache_scenario(model)
        # As OpenAI reports them: cached tokens are part of prompt_tokens, reasoning
        # tokens part of completion_tokens.
        input_tokens += cached
        output_tokens += reasoning
        usage: dict[str, Any] = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": input_tokens + output_tokens,
        }
        if cached or reasoning:
            usage["prompt_tokens_details"] = {"cached_tokens": cached, "audio_tokens": 0}
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
        created = int(time.time())
        base = {"id": f"chatcmpl-fake-{cid}", "created": created, "model": model}

        if body.get("stream"):
            if tool_calls:
                self._error(h, OPENAI, 400, "The fake does not stream tool calls.")
                return
            self._openai_stream(h, base, text, finish, usage, body)
            return

        message: dict[str, Any] = {"role": "assistant", "content": text or None, "refusal": None}
        if tool_calls:
            message["tool_calls"] = tool_calls
        h.send_json(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": [
                    {"index": 0, "message": message, "finish_reason": finish, "logprobs": None}
                ],
                "usage": usage,
            },
        )

    def _openai_stream(
        self,
        h: _Handler,
        base: Mapping[str, Any],
        text: str,
        finish: str,
        usage: Mapping[str, Any],
        body: Mapping[str, Any],
    ) -> None:
        def chunk(delta: Mapping[str, Any], finish_reason: str | None) -> str:
            return json.dumps(
                {
                    **base,
                    "object": "chat.completion.chunk",
                    # Some OpenAI-compatible servers leave out a choice's index.
                    "choices": [
                        {"delta": delta, "finish_reason": finish_reason}
                        if base["model"] == "no-index"
                        else {"index": 0, "delta": delta, "finish_reason": finish_reason}
                    ],
                }
            )

        h.start_sse()
        h.sse(chunk({"role": "assistant", "content": ""}, None))
        for number, piece in enumerate(_pieces(text), start=1):
            if number == 1 and str(base["model"]).endswith("-stamped"):
                piece = f"@{time.time():.6f} {piece}"
            h.sse(chunk({"content": piece}, None))
            _drip(base["model"])
            if number == 1 and base["model"] == "break-stream":
                h.drop_connection()
                return
            if number == 1 and base["model"] == "stall-after-first":
                h.wait_for_hangup()
                return
            if number == 1 and base["model"] == "error-stream":
                error = {"message": "The server is overloaded.", "type": "server_error"}
                h.sse(json.dumps({"error": error}))
                h.end_sse()
                return
        h.sse(chunk({}, finish))
        options = body.get("stream_options") or {}
        if options.get("include_usage"):
            h.sse(
                json.dumps(
                    {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}
                )
            )
        h.sse("[DONE]")
        h.end_sse()

    def _structured_text(self, model: str, schema: Mapping[str, Any]) -> str:
        if model == "not-json":
            return "this is not json"
        if model == "wrong-shape":
            return json.dumps({"unexpected": True})
        return json.dumps(example_from_schema(schema))

    @staticmethod
    def _hello(model: str, messages: list[Any]) -> str:
        last_user = next(
            (m for m in reversed(messages) if isinstance(m, Mapping) and m.get("role") == "user"),
            {},
        )
        return f"Hello from {model}: {_text_of(last_user.get('content'))[:40]}"

    # -- OpenAI images ------------------------------------------------------------

    def _openai_images(self, h: _Handler, body: Mapping[str, Any]) -> None:
        model = str(body["model"])
        prompt = str(body.get("prompt") or "")
        n = body.get("n") or 1
        gpt_image = model.startswith("gpt-image")
        if gpt_image and "response_format" in body:
            # As the real API does: GPT image models always return base64.
            self._error(h, OPENAI, 400, "Unknown parameter: 'response_format'.")
            return
        as_url = not gpt_image and body.get("response_format", "url") == "url"
        items: list[dict[str, Any]] = []
        for i in range(int(n)):
            item: dict[str, Any] = {"revised_prompt": f"A picture of {prompt}"}
            if as_url:
                prefix = "trickle-" if "trickle" in model else ""
                item["url"] = f"{self.url}/files/{prefix}image-{i + 1}.png"
            else:
                item["b64_json"] = base64.b64encode(PNG_BYTES).decode()
            items.append(item)
        payload: dict[str, Any] = {"created": int(time.time()), "data": items}
        if gpt_image:
            words = max(1, _word_count(prompt))
            payload["output_format"] = "png"
            payload["usage"] = {
                "input_tokens": words,
                "output_tokens": 272 * int(n),
                "total_tokens": words + 272 * int(n),
                "input_tokens_details": {"text_tokens": words, "image_tokens": 0},
            }
        h.send_json(200, payload)

    # -- Anthropic messages ---------------------------------------------------------

    def _anthropic_messages(self, h: _Handler, body: Mapping[str, Any]) -> None:
        model = str(body["model"])
        messages = body.get("messages") or []
        max_tokens = body.get("max_tokens")
        if not isinstance(max_tokens, int):
            self._error(h, ANTHROPIC, 400, "max_tokens: Field required")
            return
        if not isinstance(messages, list) or not messages:
            self._error(h, ANTHROPIC, 400, "messages: at least one message is required")
            return
        system_words = _word_count(_text_of(body.get("system") or ""))
        input_tokens = max(
            1, system_words + sum(_word_count(_text_of(m.get("content"))) for m in messages)
        )
        last = messages[-1]
        last_content = last.get("content")
        tool_results = [
            block
            for block in (last_content if isinstance(last_content, list) else [])
            if isinstance(block, Mapping) and block.get("type") == "tool_result"
        ]
        tools = body.get("tools") or []
        tool_choice = body.get("tool_choice") or {"type": "auto"}
        mid = self._next_id()

        content: list[dict[str, Any]] = []
        stop_reason = "end_turn"
        text = ""
        if tool_choice.get("type") == "tool":
            tool = next((t for t in tools if t.get("name") == tool_choice.get("name")), None)
            if tool is None:
                self._error(h, ANTHROPIC, 400, "tool_choice names a tool that is not defined")
                return
            if model == "not-json":
                text = "this is not json"
            else:
                data = (
                    {"unexpected": True}
                    if model == "wrong-shape"
                    else example_from_schema(tool.get("input_schema") or {})
                )
                content.append(
                    {
                        "type": "tool_use",
                        "id": f"toolu_fake_{mid}",
                        "name": tool["name"],
                        "input": data,
                    }
                )
                stop_reason = "tool_use"
        elif tools and tool_choice.get("type") != "none" and not tool_results:
            tool = tools[0]
            content.append(
                {
                    "type": "tool_use",
                    "id": f"toolu_fake_{mid}",
                    "name": tool.get("name"),
                    "input": (
                        "not an object"
                        if model == "bad-arguments"
                        else example_from_schema(tool.get("input_schema") or {})
                    ),
                }
            )
            stop_reason = "tool_use"
        elif tool_results:
            text = f"Done: {_text_of(tool_results[-1].get('content'))}"
        else:
            text = self._hello(model, messages)
        text, cut = _truncate(text, max_tokens)
        if cut:
            stop_reason = "max_tokens"
        if text:
            content.insert(0, {"type": "text", "text": text})
        output_tokens = _word_count(text) + sum(
            _word_count(json.dumps(b["input"])) for b in content if b["type"] == "tool_use"
        )
        message = {
            "id": f"msg_fake_{mid}",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
        }
        cached, written, _ = _cache_scenario(model)
        if cached or written:
            # As Anthropic reports them: on top of input_tokens (the uncached rest).
            message["usage"] = {
                **message["usage"],
                "cache_read_input_tokens": cached,
                "cache_creation_input_tokens": written,
            }
        if body.get("stream"):
            if any(b["type"] != "text" for b in content):
                self._error(h, ANTHROPIC, 400, "The fake does not stream tool use.")
                return
            self._anthropic_stream(h, message, text)
            return
        h.send_json(200, message)

    def _anthropic_stream(self, h: _Handler, message: Mapping[str, Any], text: str) -> None:
        def send(event: str, payload: Mapping[str, Any]) -> None:
            h.sse(json.dumps({"type": event, **payload}), event=event)

        usage = message["usage"]
        start = {
            **message,
            "content": [],
            "stop_reason": None,
            "usage": {
                **{k: v for k, v in usage.items() if k != "output_tokens"},
                "output_tokens": 1,
            },
        }
        h.start_sse()
        send("message_start", {"message": start})
        send("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        send("ping", {})
        for number, piece in enumerate(_pieces(text), start=1):
            send(
                "content_block_delta",
                {"index": 0, "delta": {"type": "text_delta", "text": piece}},
            )
            _drip(message["model"])
            if number == 1 and message["model"] == "break-stream":
                h.drop_connection()
                return
            if number == 1 and message["model"] == "stall-after-first":
                h.wait_for_hangup()
                return
            if number == 1 and message["model"] == "error-stream":
                error = {"type": "overloaded_error", "message": "Overloaded"}
                send("error", {"error": error})
                h.end_sse()
                return
        send("content_block_stop", {"index": 0})
        send(
            "message_delta",
            {
                "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                # Like the real API since 2025, the final counts (cumulative) again.
                "usage": usage,
            },
        )
        send("message_stop", {})
        h.end_sse()


def _cache_scenario(model: str) -> tuple[int, int, int]:
    """Prompt-cache usage a model name asks for: (cache reads, cache writes, reasoning).

    `...cached-<reads>` reports that many prompt tokens read from the cache,
    `...cached-<reads>-write-<writes>` also cache writes (Anthropic only: OpenAI
    reports none), `...reasoning-<n>` that many reasoning tokens (OpenAI only). The
    counts are added to what the prompt itself would count, in each API's own way.
    """
    cache = re.search(r"cached-(\d+)(?:-write-(\d+))?", model)
    reasoning = re.search(r"reasoning-(\d+)", model)
    return (
        int(cache.group(1)) if cache else 0,
        int(cache.group(2) or 0) if cache else 0,
        int(reasoning.group(1)) if reasoning else 0,
    )
