"""Provider-neutral request/result types and the `Adapter` protocol.

Everything here is plain data so the service layer can cache, log and compare it
without knowing which SDK sits behind an adapter.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

KIND_OPENAI = "openai"
KIND_ANTHROPIC = "anthropic"
KIND_OPENAI_COMPATIBLE = "openai_compatible"

KINDS: tuple[str, ...] = (KIND_OPENAI, KIND_ANTHROPIC, KIND_OPENAI_COMPATIBLE)

# Used when a config leaves base_url empty; openai_compatible has no default.
DEFAULT_BASE_URLS: dict[str, str] = {
    KIND_OPENAI: "https://api.openai.com/v1",
    KIND_ANTHROPIC: "https://api.anthropic.com",
}

_REDACTION_MARK = "\u2026"  # "…": short enough to keep messages readable


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """Everything an adapter needs to talk to one provider account.

    Hashable so it can key a cache of live adapters. `api_key` is kept out of
    `repr()` because configs end up in logs and debug pages.
    """

    kind: str
    provider_name: str
    base_url: str
    api_key: str | None = field(repr=False)
    timeout_seconds: float
    key_env: str | None = None
    # Loopback and private-network endpoints (a local Ollama, vLLM on the LAN) are
    # allowed unless this is False; link-local and metadata addresses never are.
    allow_private_endpoints: bool = True


@dataclass(frozen=True, slots=True)
class Usage:
    """Token and image counts reported by the provider (None when not reported).

    One convention whatever the wire format, the one prices are computed with:
    `input_tokens` is the whole prompt, cache reads and writes included (OpenAI's
    `prompt_tokens`; Anthropic's `input_tokens` plus its two cache counts, which it
    reports on top). `cache_read_tokens` and `cache_write_tokens` are the parts of it
    read from / written to the provider's prompt cache (billed at their own rates);
    `reasoning_tokens` is the part of `output_tokens` spent thinking (billed as output).
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    image_count: int = 0
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextRequest:
    """A single-prompt text generation request."""

    model: str
    prompt: str
    system: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    # Earlier turns of a conversation (user and assistant messages, oldest first), sent
    # before `prompt`: a multi-turn chat without tools.
    history: tuple[ChatMessage, ...] = ()


@dataclass(frozen=True, slots=True)
class TextResult:
    """The outcome of a text generation; `model` is what the provider says served it."""

    text: str
    model: str
    usage: Usage
    latency_ms: float
    finish_reason: str | None = None

    @property
    def log_text(self) -> str:
        """The answer as a call log stores it."""
        return self.text


@dataclass(frozen=True, slots=True)
class ImageRequest:
    """An image generation request."""

    model: str
    prompt: str
    size: str = "1024x1024"
    quality: str | None = None
    n: int = 1


@dataclass(frozen=True, slots=True)
class GeneratedImage:
    """One generated image, already decoded to raw bytes."""

    data: bytes = field(repr=False)
    mime_type: str = "image/png"
    revised_prompt: str | None = None


@dataclass(frozen=True, slots=True)
class ImageResult:
    """The outcome of an image generation."""

    images: tuple[GeneratedImage, ...]
    model: str
    usage: Usage
    latency_ms: float

    @property
    def log_text(self) -> str:
        """The answer as a call log stores it (the images themselves are not stored)."""
        return f"{len(self.images)} image(s)"


@dataclass(frozen=True, slots=True)
class StructuredRequest:
    """A request for JSON output shaped by `schema` (a JSON Schema dict)."""

    model: str
    prompt: str
    schema: dict[str, Any]
    schema_name: str = "result"
    system: str | None = None
    max_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class StructuredResult:
    """Parsed JSON output. Adapters only parse; checking it against the schema is up to callers."""

    data: object
    raw_text: str
    model: str
    usage: Usage
    latency_ms: float

    @property
    def log_text(self) -> str:
        """The answer as a call log stores it."""
        return self.raw_text


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A function the model may call; `parameters` is a JSON Schema for its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call requested by the model, with arguments already JSON-decoded."""

    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation. Roles: "system", "user", "assistant", "tool"."""

    role: str
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A multi-turn chat request, optionally offering tools.

    `tool_choice` is "auto", "required" or "none".
    """

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    max_tokens: int | None = None
    tool_choice: str = "auto"


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The assistant's reply to a chat request.

    `stop_reason` is normalised to "end", "tool_calls", "max_tokens" or "other".
    """

    message: ChatMessage
    stop_reason: str
    model: str
    usage: Usage
    latency_ms: float

    @property
    def log_text(self) -> str:
        """The answer as a call log stores it."""
        return self.message.content


class Result(Protocol):
    """What every adapter answer has: who answered, the usage, and a loggable text."""

    @property
    def model(self) -> str: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def log_text(self) -> str: ...


class TextStream:
    """An iterator of text deltas from a streamed generation.

    Once exhausted, `result` holds the final `TextResult` (full text, usage from the
    stream, latency to the end of the stream). Errors while iterating are raised as
    `AdapterError`s. Always `close()` a stream you stop reading early (or use it as a
    context manager) so the connection is released.
    """

    result: TextResult | None

    def __init__(
        self,
        deltas: Generator[str, None, TextResult],
        *,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self._deltas = deltas
        self._on_close = on_close
        self._closed = False
        self.result = None

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> str:
        if self._closed:
            raise StopIteration
        try:
            return next(self._deltas)
        except StopIteration as done:
            self.result = done.value
            self.close()
            raise StopIteration from None
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Stop the stream and release its connection. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            self._deltas.close()
        finally:
            if self._on_close is not None:
                self._on_close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncTextStream:
    """The async twin of `TextStream`: `async for` the deltas, then read `result`.

    `finish` builds the final `TextResult` once the deltas are exhausted (and raises
    an `AdapterError` when the stream was cut short). Always `aclose()` a stream you
    stop reading early.
    """

    result: TextResult | None

    def __init__(
        self,
        deltas: AsyncIterator[str],
        *,
        finish: Callable[[], TextResult],
        on_close: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._deltas = deltas
        self._finish = finish
        self._on_close = on_close
        self._closed = False
        self.result = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        try:
            return await anext(self._deltas)
        except StopAsyncIteration:
            await self.aclose()
            self.result = self._finish()
            raise
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop the stream and release its connection. Safe to call more than once."""
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            await self._on_close()


class Adapter(Protocol):
    """What the service layer needs from a provider adapter.

    Implementations raise `adapters.errors.AdapterError` subclasses for every failure
    and never put an API key into an error message.
    """

    config: ClientConfig

    def generate_text(self, request: TextRequest) -> TextResult:
        """Generate text for a single prompt."""
        ...

    def stream_text(self, request: TextRequest) -> TextStream:
        """Start a streamed generation; HTTP errors are raised before the first delta."""
        ...

    def generate_image(self, request: ImageRequest) -> ImageResult:
        """Generate one or more images."""
        ...

    def generate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Generate JSON output shaped by a schema."""
        ...

    def chat(self, request: ChatRequest) -> ChatResult:
        """Run one assistant turn of a conversation, possibly returning tool calls."""
        ...

    def list_models(self) -> list[str]:
        """List model ids; a cheap real request used to test a connection."""
        ...

    # Async twins of the calls above, on the SDKs' async clients.
    async def agenerate_text(self, request: TextRequest) -> TextResult:
        """Async `generate_text`."""
        ...

    async def astream_text(self, request: TextRequest) -> AsyncTextStream:
        """Async `stream_text`."""
        ...

    async def agenerate_image(self, request: ImageRequest) -> ImageResult:
        """Async `generate_image`."""
        ...

    async def agenerate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Async `generate_structured`."""
        ...

    async def achat(self, request: ChatRequest) -> ChatResult:
        """Async `chat`."""
        ...

    async def alist_models(self) -> list[str]:
        """Async `list_models`."""
        ...

    def close(self) -> None:
        """Release the underlying HTTP client."""
        ...


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every secret (of 4+ characters) in `text` by "…" plus its last 4 characters."""
    # Longest first, so a secret that contains another is replaced whole.
    usable = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
    for secret in usable:
        text = text.replace(secret, _REDACTION_MARK + secret[-4:])
    return text
