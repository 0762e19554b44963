"""Adapter for the Anthropic Messages API via the `anthropic` SDK.

The adapter and its SDK clients; the wire shapes are in `anthropic_wire`, streamed
text in `anthropic_stream`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, ClassVar

import anthropic

from ._common import (
    ErrorContext,
    Exchange,
    SDKClientHolder,
    acall_sdk,
    build_async_http_client,
    build_http_client,
    call_sdk,
    check_event_stream,
    elapsed_ms,
    parse_json_text,
    reading_response,
    safe_schema_name,
)
from ._common import (
    check_base_url as _check_base_url,
)
from .anthropic_stream import _aiter_events, _EventReader, _iter_events
from .anthropic_wire import (
    _STOP_REASONS,
    _TOOL_CHOICES,
    _WRAP_KEY,
    _expect_message,
    _joined_text,
    _max_tokens,
    _messages_to_wire,
    _object_schema,
    _tool_input,
    _usage,
)
from .base import (
    DEFAULT_BASE_URLS,
    AsyncTextStream,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ClientConfig,
    ImageRequest,
    ImageResult,
    StructuredRequest,
    StructuredResult,
    TextRequest,
    TextResult,
    TextStream,
    ToolCall,
)
from .errors import (
    AdapterError,
    CapabilityNotSupported,
    InvalidRequest,
    ProviderError,
    ProviderNotInitialized,
)


class AnthropicAdapter(SDKClientHolder[anthropic.Anthropic]):
    """Talks to the Anthropic Messages API through the `anthropic` SDK.

    The SDK client gets the key, base URL and timeout explicitly, no retries, no
    OpenTelemetry, and none of the `ANTHROPIC_*` environment or profile files.
    """

    requires_key: ClassVar[bool] = True

    config: ClientConfig

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        base_url = (config.base_url or "").strip() or DEFAULT_BASE_URLS["anthropic"]
        self._ctx = ErrorContext(
            provider=config.provider_name,
            base_url=base_url,
            timeout_seconds=config.timeout_seconds,
            # The stripped key is what travels, so it is what a server could echo.
            secrets=(config.api_key, (config.api_key or "").strip()),
        )
        self._client: anthropic.Anthropic | None = None
        self._client_args: dict[str, Any] = {}
        self._async_clients = []
        self._setup_problem: Callable[[], AdapterError] | None = None

        key = (config.api_key or "").strip() or None
        name = config.provider_name
        if key is None:
            # Never hand None to the SDK: it would go looking for ANTHROPIC_API_KEY,
            # ANTHROPIC_AUTH_TOKEN, ANTHROPIC_PROFILE and config files on disk.
            self._setup_problem = lambda: ProviderNotInitialized(
                provider=name, key_env=config.key_env
            )
            return
        try:
            _check_base_url(base_url)
            self._client_args = {
                "api_key": key,
                "base_url": base_url,
                "timeout": config.timeout_seconds,
                "allow_private": config.allow_private_endpoints,
            }
            self._client = _build_client(**self._client_args)
        except Exception:
            self._setup_problem = lambda: ProviderNotInitialized(
                f"Provider not initialized: {name!r} has an unusable base URL ({base_url!r}).",
                provider=name,
            )

    # -- text --------------------------------------------------------------------

    def _text_kwargs(self, request: TextRequest) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": _max_tokens(request.max_tokens),
            "messages": [
                *({"role": m.role, "content": m.content} for m in request.history),
                {"role": "user", "content": request.prompt},
            ],
        }
        if request.system:
            kwargs["system"] = request.system
        if request.temperature is not None:
            # SDK 1.x+ dropped `temperature` from the signature; the API still takes
            # it for models that support sampling, so it goes in the body directly.
            kwargs["extra_body"] = {"temperature": request.temperature}
        return kwargs

    def _build_async_client(self) -> anthropic.AsyncAnthropic:
        return _build_async_client(**self._client_args)

    def generate_text(self, request: TextRequest) -> TextResult:
        """Generate text with one Messages API call."""
        return self._run(self._text, request)

    async def agenerate_text(self, request: TextRequest) -> TextResult:
        """Async `generate_text`."""
        return await self._arun(self._text, request)

    def _text(self, ctx: ErrorContext, request: TextRequest) -> Exchange[TextResult]:
        kwargs = self._text_kwargs(request)
        start = time.perf_counter()
        message = yield lambda client: client.messages.create(**kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            message = _expect_message(ctx, message)
            return TextResult(
                text=_joined_text(message),
                model=message.model or request.model,
                usage=_usage(message.usage),
                latency_ms=latency,
                finish_reason=message.stop_reason,
            )

    def stream_text(self, request: TextRequest) -> TextStream:
        """Stream a message; HTTP errors raise here, before the first delta."""
        client = self._sdk()
        ctx = self._ctx.for_model(request.model)
        kwargs = self._text_kwargs(request)
        kwargs["stream"] = True
        start = time.perf_counter()
        stream = call_sdk(ctx, lambda: client.messages.create(**kwargs))
        if not isinstance(stream, anthropic.Stream):
            raise ctx.unreadable()
        try:
            check_event_stream(ctx, stream.response.headers)
        except AdapterError:
            stream.close()
            raise
        reader = _EventReader(ctx, request, start)
        return TextStream(_iter_events(reader, stream), on_close=stream.close)

    async def astream_text(self, request: TextRequest) -> AsyncTextStream:
        """Async `stream_text`."""
        client = self._async_sdk()
        ctx = self._ctx.for_model(request.model)
        kwargs = self._text_kwargs(request)
        kwargs["stream"] = True
        start = time.perf_counter()
        stream = await acall_sdk(ctx, client.messages.create(**kwargs))
        if not isinstance(stream, anthropic.AsyncStream):
            raise ctx.unreadable()
        try:
            check_event_stream(ctx, stream.response.headers)
        except AdapterError:
            await stream.close()
            raise
        reader = _EventReader(ctx, request, start)
        return AsyncTextStream(
            _aiter_events(reader, stream), finish=reader.result, on_close=stream.close
        )

    # -- images ------------------------------------------------------------------

    def generate_image(self, request: ImageRequest) -> ImageResult:
        """Always refused: Anthropic has no image generation. No request is made."""
        raise CapabilityNotSupported(
            f"Anthropic does not generate images ({request.model!r}). "
            "Assign an image model instead, e.g. openai/dall-e-3.",
            provider=self.config.provider_name,
        )

    async def agenerate_image(self, request: ImageRequest) -> ImageResult:
        """Always refused, like `generate_image`."""
        return self.generate_image(request)

    # -- structured output -------------------------------------------------------

    def generate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Force a single tool whose input schema is the requested schema; its input is the data."""
        return self._run(self._structured, request)

    async def agenerate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Async `generate_structured`."""
        return await self._arun(self._structured, request)

    def _structured(
        self, ctx: ErrorContext, request: StructuredRequest
    ) -> Exchange[StructuredResult]:
        name = safe_schema_name(request.schema_name)
        input_schema, wrapped = _object_schema(request.schema)
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": _max_tokens(request.max_tokens),
            "messages": [{"role": "user", "content": request.prompt}],
            "tools": [
                {
                    "name": name,
                    "description": f"Record the answer as `{name}`, following the input schema.",
                    "input_schema": input_schema,
                }
            ],
            "tool_choice": {"type": "tool", "name": name},
        }
        if request.system:
            kwargs["system"] = request.system
        start = time.perf_counter()
        message = yield lambda client: client.messages.create(**kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            message = _expect_message(ctx, message)
            model = message.model or request.model
            usage = _usage(message.usage)
            tool_inputs = [
                block.input
                for block in message.content
                if block.type == "tool_use" and block.name == name
            ]
            text = _joined_text(message)
        if tool_inputs:
            data: object = tool_inputs[0]
            if wrapped and isinstance(data, dict) and _WRAP_KEY in data:
                data = data[_WRAP_KEY]
            return StructuredResult(
                data=data, raw_text=json.dumps(data), model=model, usage=usage, latency_ms=latency
            )
        # A proxy or model that ignored the forced tool may still have answered in JSON.
        if not text.strip():
            raise ctx.make(ProviderError, "returned no structured output")
        data = parse_json_text(ctx, text)
        return StructuredResult(
            data=data, raw_text=text, model=model, usage=usage, latency_ms=latency
        )

    # -- chat with tools ---------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResult:
        """Run one assistant turn, offering `request.tools` as Anthropic tools."""
        return self._run(self._chat, request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        """Async `chat`."""
        return await self._arun(self._chat, request)

    def _chat(self, ctx: ErrorContext, request: ChatRequest) -> Exchange[ChatResult]:
        tool_choice = _TOOL_CHOICES.get(request.tool_choice)
        if tool_choice is None:
            raise ctx.make(InvalidRequest, f"unknown tool_choice {request.tool_choice!r}")
        system, messages = _messages_to_wire(ctx, request.messages)
        kwargs: dict[str, Any] = {
            "model": request.model,
            "max_tokens": _max_tokens(request.max_tokens),
            "messages": messages,
        }
        if system:
            kwargs["system"] = system
        if request.tools:
            kwargs["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.parameters}
                for t in request.tools
            ]
            kwargs["tool_choice"] = tool_choice
        start = time.perf_counter()
        message = yield lambda client: client.messages.create(**kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            message = _expect_message(ctx, message)
            tool_calls = tuple(
                ToolCall(id=block.id, name=block.name, arguments=_tool_input(ctx, block))
                for block in message.content
                if block.type == "tool_use"
            )
            stop = _STOP_REASONS.get(message.stop_reason or "", "other")
            if tool_calls and stop == "end":
                stop = "tool_calls"
            return ChatResult(
                message=ChatMessage(
                    role="assistant", content=_joined_text(message), tool_calls=tool_calls
                ),
                stop_reason=stop,
                model=message.model or request.model,
                usage=_usage(message.usage),
                latency_ms=latency,
            )

    # -- models ------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Model ids from `GET /v1/models` (first page)."""
        return self._run(_models, None)

    async def alist_models(self) -> list[str]:
        """Async `list_models`."""
        return await self._arun(_models, None)


def _models(ctx: ErrorContext, _request: None) -> Exchange[list[str]]:
    page = yield lambda client: client.models.list()
    with reading_response(ctx):
        return [str(model.id) for model in page.data]


def _build_client(
    *, api_key: str, base_url: str, timeout: float, allow_private: bool = True
) -> anthropic.Anthropic:
    """An SDK client that uses only what we pass, never the process environment."""
    client = anthropic.Anthropic(
        # An explicit api_key makes the SDK skip ANTHROPIC_API_KEY/AUTH_TOKEN,
        # ANTHROPIC_PROFILE, federation variables and ~/.config profiles.
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        # "" rather than None, or it reads ANTHROPIC_WEBHOOK_SIGNING_KEY.
        webhook_key="",
        # Any value but None stops it reading ANTHROPIC_OPEN_TELEMETRY_*, one of
        # which would copy prompts and answers into trace spans.
        open_telemetry=False,
        http_client=build_http_client(timeout=timeout, allow_private=allow_private),
    )
    # The constructor always merges ANTHROPIC_CUSTOM_HEADERS into its headers, and
    # those win over the auth header built from our key.
    client._custom_headers = {}
    return client


def _build_async_client(
    *, api_key: str, base_url: str, timeout: float, allow_private: bool = True
) -> anthropic.AsyncAnthropic:
    """The async twin of `_build_client`, built the same way."""
    client = anthropic.AsyncAnthropic(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        webhook_key="",
        open_telemetry=False,
        http_client=build_async_http_client(timeout=timeout, allow_private=allow_private),
    )
    # The constructor always merges ANTHROPIC_CUSTOM_HEADERS into its headers, and
    # those win over the auth header built from our key.
    client._custom_headers = {}
    return client
