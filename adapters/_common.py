"""Shared plumbing for the SDK-backed adapters: error mapping, JSON and timing helpers.

Both SDKs are generated from the same template, so their exceptions have the same
shape (`status_code`, `response`, `body`); the mapping below is written once against
that shape and checks the concrete classes of both SDKs.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import anthropic
import httpx
import httpx2
import openai

from .base import redact
from .deadline import DeadlineBackend
from .egress import AsyncGuardedTransport, EndpointRefused, GuardedTransport
from .errors import (
    AdapterError,
    AuthenticationFailed,
    EndpointNotAllowed,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    RateLimited,
    TimedOut,
)

_MAX_DETAIL = 200
_SCHEMA_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")

_TIMEOUT_ERRORS: tuple[type[BaseException], ...] = (
    openai.APITimeoutError,
    anthropic.APITimeoutError,
    httpx2.TimeoutException,
    httpx.TimeoutException,
)
_CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIConnectionError,
    anthropic.APIConnectionError,
)
_TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (httpx2.TransportError, httpx.TransportError)
_CONNECT_ERRORS: tuple[type[BaseException], ...] = (httpx2.ConnectError, httpx.ConnectError)
_STATUS_ERRORS: tuple[type[BaseException], ...] = (openai.APIStatusError, anthropic.APIStatusError)
_VALIDATION_ERRORS: tuple[type[BaseException], ...] = (
    openai.APIResponseValidationError,
    anthropic.APIResponseValidationError,
)
_API_ERRORS: tuple[type[BaseException], ...] = (openai.APIError, anthropic.APIError)
_DECODING_ERRORS: tuple[type[BaseException], ...] = (
    httpx2.DecodingError,
    httpx.DecodingError,
    json.JSONDecodeError,  # a "JSON" body that is not, from response.json()
    UnicodeDecodeError,
)

# Error "type" strings from both providers' error bodies, for errors that arrive
# without a meaningful HTTP status (e.g. an `error` event inside a 200 stream).
_TYPE_TO_ERROR: dict[str, tuple[type[AdapterError], str]] = {
    "overloaded_error": (ProviderError, "overloaded"),
    "api_error": (ProviderError, "server error"),
    "server_error": (ProviderError, "server error"),
    "rate_limit_error": (RateLimited, "rate limited"),
    "rate_limit_exceeded": (RateLimited, "rate limited"),
    "authentication_error": (AuthenticationFailed, "API key rejected"),
    "permission_error": (AuthenticationFailed, "access denied"),
    "not_found_error": (ModelNotFound, "not found"),
    "invalid_request_error": (InvalidRequest, "request rejected"),
}


@dataclass(frozen=True, slots=True)
class ErrorContext:
    """What an error message may mention (provider, endpoint, model, timeout) and must hide."""

    provider: str
    base_url: str
    timeout_seconds: float
    secrets: tuple[str | None, ...]
    model: str | None = None

    def for_model(self, model: str | None) -> ErrorContext:
        """The same context about a specific model."""
        return ErrorContext(
            provider=self.provider,
            base_url=self.base_url,
            timeout_seconds=self.timeout_seconds,
            secrets=self.secrets,
            model=model,
        )

    def make(
        self,
        cls: type[AdapterError],
        text: str,
        *,
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> AdapterError:
        """Build an error whose message is prefixed with the provider and scrubbed of secrets."""
        message = redact(f"{self.provider}: {text}", self.secrets)
        return cls(
            message, provider=self.provider, status_code=status_code, retry_after=retry_after
        )

    def unreadable(self, what: str = "unreadable response (not JSON)") -> AdapterError:
        """A ProviderError for an answer we cannot make sense of."""
        return self.make(ProviderError, what)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from `retry-after-ms` or `retry-after` (seconds or HTTP date), else None."""
    if headers is None:
        return None
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    value = headers.get("retry-after")
    if value:
        try:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
        except (TypeError, ValueError, OverflowError):
            return None
    return None


def body_message(body: object) -> str | None:
    """The human message inside an error body of either provider, if there is one."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str):
            return _clip(inner["message"])
        if isinstance(inner, str) and inner.strip():
            return _clip(inner)
        if isinstance(body.get("message"), str):
            return _clip(body["message"])
        return None
    if isinstance(body, str):
        text = body.strip()
        # An HTML error page says nothing useful in one line.
        if text and not text.startswith("<"):
            return _clip(text)
    return None


def body_error_type(body: object) -> str | None:
    """The provider's error type string (`error.type` or `type`), if present."""
    if isinstance(body, Mapping):
        inner = body.get("error")
        if isinstance(inner, Mapping) and isinstance(inner.get("type"), str):
            return str(inner["type"])
        if isinstance(body.get("type"), str) and body.get("type") != "error":
            return str(body["type"])
        if isinstance(body.get("code"), str):
            return str(body["code"])
    return None


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _MAX_DETAIL else text[: _MAX_DETAIL - 1] + "\u2026"


def _with_detail(summary: str, detail: str | None) -> str:
    return f"{summary}: {detail}" if detail else summary


def _format_seconds(seconds: float) -> str:
    return f"{seconds:g} s"


def map_status(
    ctx: ErrorContext,
    *,
    status: int,
    body: object,
    headers: Mapping[str, str] | None,
) -> AdapterError:
    """Map an HTTP error status (with the provider's error body) onto an adapter error."""
    detail = body_message(body)
    retry_after = parse_retry_after(headers)
    http = f"(HTTP {status})"
    if status == 401:
        return ctx.make(
            AuthenticationFailed,
            _with_detail(f"API key rejected {http}", detail),
            status_code=status,
        )
    if status == 403:
        return ctx.make(
            AuthenticationFailed, _with_detail(f"access denied {http}", detail), status_code=status
        )
    if status == 404:
        if ctx.model:
            text = f"model {ctx.model!r} not found {http}"
        else:
            text = _with_detail(f"not found at {ctx.base_url} {http}", detail)
        return ctx.make(ModelNotFound, text, status_code=status)
    if status == 408:
        return ctx.make(TimedOut, f"the server timed out the request {http}", status_code=status)
    if status == 429:
        text = f"rate limited {http}"
        if retry_after is not None:
            text += f", retry after {_format_seconds(retry_after)}"
        return ctx.make(
            RateLimited, _with_detail(text, detail), status_code=status, retry_after=retry_after
        )
    if status >= 500:
        summary = {503: "service unavailable", 529: "overloaded"}.get(status, "server error")
        return ctx.make(
            ProviderError,
            _with_detail(f"{summary} {http}", detail),
            status_code=status,
            retry_after=retry_after,
        )
    if 400 <= status < 500:
        return ctx.make(
            InvalidRequest, _with_detail(f"request rejected {http}", detail), status_code=status
        )
    # An error reported inside a successful response, e.g. an `error` event mid-stream:
    # the HTTP status says nothing, the error type says what happened.
    cls, summary = _TYPE_TO_ERROR.get(body_error_type(body) or "", (ProviderError, "failed"))
    if cls is ModelNotFound and ctx.model:
        summary = f"model {ctx.model!r} not found"
    return ctx.make(cls, _with_detail(summary, detail), retry_after=retry_after)


def _transport_error(ctx: ErrorContext, exc: BaseException) -> AdapterError:
    cause: BaseException | None = exc
    while cause is not None:
        # Refused by our own address checks: say so, it is not the network's fault.
        if isinstance(cause, EndpointRefused):
            return ctx.make(EndpointNotAllowed, str(cause))
        cause = cause.__cause__ or cause.__context__
    cause = exc
    while cause is not None:
        if isinstance(cause, _TIMEOUT_ERRORS):
            return timed_out(ctx)
        if isinstance(cause, _CONNECT_ERRORS):
            return ctx.make(ProviderError, f"cannot connect to {ctx.base_url} (connection refused)")
        if isinstance(cause, (httpx2.DecodingError, httpx.DecodingError)):
            return ctx.unreadable("unreadable response (bad encoding)")
        cause = cause.__cause__
    return ctx.make(ProviderError, "connection lost before the response was complete")


def timed_out(ctx: ErrorContext) -> AdapterError:
    """The TimedOut error for this context's configured timeout."""
    return ctx.make(
        TimedOut, f"no response within {_format_seconds(ctx.timeout_seconds)} (timed out)"
    )


def map_exception(ctx: ErrorContext, exc: BaseException) -> AdapterError:
    """Map any exception raised by an SDK call (or by reading its answer) onto an adapter error."""
    if isinstance(exc, AdapterError):
        return exc
    if isinstance(exc, _TIMEOUT_ERRORS):
        return timed_out(ctx)
    if isinstance(exc, _STATUS_ERRORS):
        response = getattr(exc, "response", None)
        headers = getattr(response, "headers", None)
        status = getattr(exc, "status_code", None) or getattr(response, "status_code", 0) or 0
        return map_status(ctx, status=int(status), body=getattr(exc, "body", None), headers=headers)
    if isinstance(exc, _VALIDATION_ERRORS):
        return ctx.unreadable("unreadable response (unexpected shape)")
    if isinstance(exc, _CONNECTION_ERRORS + _TRANSPORT_ERRORS):
        return _transport_error(ctx, exc)
    if isinstance(exc, _API_ERRORS):
        # A status-less API error: an error object delivered inside a stream.
        return map_status(ctx, status=0, body=getattr(exc, "body", None), headers=None)
    if isinstance(exc, _DECODING_ERRORS):
        return ctx.unreadable()
    return ctx.make(ProviderError, f"unexpected error ({type(exc).__name__})")


def safe_cause(ctx: ErrorContext, exc: BaseException) -> BaseException | None:
    """`exc` if it may be chained to our error, None if its text would reveal a secret.

    SDK exceptions embed the provider's error body, which can echo the API key; a
    chained cause would print it in every logged traceback.
    """
    texts = (str(exc), repr(getattr(exc, "body", None)))
    if any(secret and secret in text for secret in ctx.secrets for text in texts):
        return None
    return exc


def call_sdk[T](ctx: ErrorContext, fn: Callable[[], T]) -> T:
    """Run an SDK call, translating whatever it raises into an adapter error."""
    try:
        return fn()
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(ctx, exc) from safe_cause(ctx, exc)


async def acall_sdk[T](ctx: ErrorContext, call: Awaitable[T]) -> T:
    """Await an async SDK call, translating whatever it raises into an adapter error."""
    try:
        return await call
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(ctx, exc) from safe_cause(ctx, exc)


class Blocking:
    """A step of an exchange that is plain blocking work (run in a thread when async)."""

    __slots__ = ("work",)

    def __init__(self, work: Callable[[], Any]) -> None:
        self.work = work


# An exchange is one operation written once for both SDK clients: a generator that
# yields "given the client, start this SDK call" (or a `Blocking` step), is sent the
# answer, and returns the parsed result. `run_exchange` drives it on a sync client,
# `arun_exchange` on an async one, so parsing never exists in two copies.
type SDKCall = Callable[[Any], Any] | Blocking
type Exchange[R] = Generator[SDKCall, Any, R]


def run_exchange[R](ctx: ErrorContext, client: Any, exchange: Exchange[R]) -> R:
    """Run an exchange against a sync SDK client."""
    try:
        step = next(exchange)
        while True:
            if isinstance(step, Blocking):
                answer = step.work()
            else:
                answer = call_sdk(ctx, functools.partial(step, client))
            step = exchange.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


async def arun_exchange[R](ctx: ErrorContext, client: Any, exchange: Exchange[R]) -> R:
    """Run an exchange against an async SDK client (same parsing as `run_exchange`)."""
    try:
        step = next(exchange)
        while True:
            if isinstance(step, Blocking):
                answer = await asyncio.to_thread(step.work)
            else:
                answer = await acall_sdk(ctx, step(client))
            step = exchange.send(answer)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


@contextmanager
def reading_response(ctx: ErrorContext) -> Iterator[None]:
    """Guard code that digs through a parsed response.

    The SDKs build response models without validation, so a body of the wrong shape
    shows up as missing attributes or odd types while we read it.
    """
    try:
        yield
    except AdapterError:
        raise
    except (AttributeError, TypeError, KeyError, IndexError, ValueError) as exc:
        raise ctx.unreadable("unreadable response (unexpected shape)") from exc


def check_event_stream(ctx: ErrorContext, headers: Mapping[str, str]) -> None:
    """Refuse a "stream" whose body is plainly not server-sent events (e.g. an HTML page)."""
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type and content_type != "text/event-stream":
        raise ctx.unreadable(f"unreadable response (expected an event stream, got {content_type})")


def parse_json_text(ctx: ErrorContext, text: str) -> object:
    """Parse model output as JSON, or raise ProviderError ("returned unreadable JSON")."""
    try:
        return json.loads(text)
    except ValueError as exc:
        snippet = _clip(text)[:60]
        raise ctx.make(ProviderError, f"returned unreadable JSON ({snippet!r})") from exc


def elapsed_ms(start: float) -> float:
    """Milliseconds since `start` (a `time.perf_counter()` value)."""
    return (time.perf_counter() - start) * 1000.0


def int_or_none(value: Any) -> int | None:
    """`value` as an int when it is a number, else None (usage fields are often missing)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return int(value)
    return None


def safe_schema_name(name: str) -> str:
    """A schema/tool name both APIs accept (`^[A-Za-z0-9_-]{1,64}$`)."""
    cleaned = _SCHEMA_NAME_UNSAFE.sub("_", name)[:64]
    return cleaned or "result"


def check_base_url(base_url: str) -> None:
    """Raise ValueError unless `base_url` is an absolute http(s) URL.

    Anything else would only fail at request time, as a confusing transport error.
    """
    if not base_url.lower().startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {base_url!r}")


# Mirrors the SDKs' own defaults for the clients they would build themselves.
_CONNECTION_LIMITS = httpx2.Limits(max_connections=1000, max_keepalive_connections=100)


class _DeadlineTransport(GuardedTransport):
    """Checked connections (adapters.egress) that also honour the attempt's deadline/cancel."""

    def __init__(self, *, allow_private: bool) -> None:
        super().__init__(allow_private=allow_private, limits=_CONNECTION_LIMITS)
        # The deadline wraps the guard: the guard resolves, checks and connects to the
        # checked address; every socket operation on it then honours the deadline.
        pool: Any = self._pool
        pool._network_backend = DeadlineBackend(pool._network_backend)


def build_http_client(*, timeout: float, allow_private: bool) -> httpx2.Client:
    """The HTTP client under every sync SDK client.

    Every connection, redirects included, goes through the address checks of
    adapters.egress (never link-local or metadata addresses: SSRF, key theft), and
    the attempt's deadline is enforced on every socket operation.
    """
    return httpx2.Client(
        transport=_DeadlineTransport(allow_private=allow_private),
        timeout=timeout,
        limits=_CONNECTION_LIMITS,
        follow_redirects=True,
    )


def build_async_http_client(*, timeout: float, allow_private: bool) -> httpx2.AsyncClient:
    """The HTTP client under every async SDK client: the same address checks (asyncio
    bounds and cancels attempts)."""
    return httpx2.AsyncClient(
        transport=AsyncGuardedTransport(allow_private=allow_private, limits=_CONNECTION_LIMITS),
        timeout=timeout,
        limits=_CONNECTION_LIMITS,
        follow_redirects=True,
    )


class _Closable:
    def close(self) -> None: ...


class SDKClientHolder[ClientT: _Closable]:
    """The lifecycle every adapter shares: one SDK client, closed with the adapter.

    A configuration problem found while building the client is kept and raised on
    first use, so constructing an adapter (for a cache or a page) never fails.
    """

    _client: ClientT | None
    _setup_problem: Callable[[], AdapterError] | None
    _ctx: ErrorContext
    # Async SDK clients, one per event loop: their connections belong to the loop.
    _async_clients: list[tuple[asyncio.AbstractEventLoop, Any]]

    def close(self) -> None:
        """Release the SDK's HTTP connection pool."""
        if self._client is not None:
            self._client.close()
        # Async clients can only be closed on their own loop; dropping them is enough.
        self._async_clients = []

    def _build_async_client(self) -> Any:
        raise NotImplementedError

    def _async_sdk(self) -> Any:
        if self._setup_problem is not None:
            raise self._setup_problem()
        loop = asyncio.get_running_loop()
        clients = [(lp, c) for lp, c in getattr(self, "_async_clients", []) if not lp.is_closed()]
        for known, client in clients:
            if known is loop:
                return client
        client = self._build_async_client()
        self._async_clients = [*clients[-7:], (loop, client)]
        return client

    def _run[R](self, exchange: Callable[[ErrorContext, Any], Exchange[R]], request: Any) -> R:
        client = self._sdk()
        ctx = self._ctx.for_model(getattr(request, "model", None))
        return run_exchange(ctx, client, exchange(ctx, request))

    async def _arun[R](
        self, exchange: Callable[[ErrorContext, Any], Exchange[R]], request: Any
    ) -> R:
        client = self._async_sdk()
        ctx = self._ctx.for_model(getattr(request, "model", None))
        return await arun_exchange(ctx, client, exchange(ctx, request))

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _sdk(self) -> ClientT:
        if self._setup_problem is not None:
            raise self._setup_problem()
        assert self._client is not None
        return self._client
