"""Adapter for the OpenAI API (chat completions, images, models) via the `openai` SDK."""

from __future__ import annotations

import base64
import functools
import time
from collections.abc import Callable
from typing import Any, ClassVar

import openai
from openai.types import ImagesResponse
from openai.types.chat import ChatCompletion

from ._common import (
    Blocking,
    ErrorContext,
    Exchange,
    SDKClientHolder,
    acall_sdk,
    build_async_http_client,
    build_http_client,
    call_sdk,
    check_event_stream,
    elapsed_ms,
    int_or_none,
    map_exception,
    parse_json_text,
    reading_response,
    safe_cause,
    safe_schema_name,
)
from ._common import (
    check_base_url as _check_base_url,
)
from .base import (
    DEFAULT_BASE_URLS,
    AsyncTextStream,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ClientConfig,
    GeneratedImage,
    ImageRequest,
    ImageResult,
    StructuredRequest,
    StructuredResult,
    TextRequest,
    TextResult,
    TextStream,
    ToolCall,
    Usage,
)
from .errors import AdapterError, InvalidRequest, ProviderError, ProviderNotInitialized
from .openai_stream import _aiter_chunks, _ChunkReader, _iter_chunks
from .openai_wire import (
    _chat_usage,
    _decode_arguments,
    _expect,
    _message_to_wire,
    plain_text_result,
    post_plain_chat,
)

_TOOL_CHOICES = frozenset({"auto", "required", "none"})
_FINISH_REASONS = {
    "stop": "end",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "max_tokens",
}
_IMAGE_MIME_BY_FORMAT = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "gif": "image/gif",
    "svg": "image/svg+xml",
}
_MAX_IMAGE_DOWNLOAD_BYTES = 64 * 1024 * 1024


def sniff_image_mime(data: bytes) -> str | None:
    """The MIME type of common image formats, from their magic bytes."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return "image/webp"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data.lstrip().startswith((b"<svg", b"<?xml")):
        return "image/svg+xml"
    return None


class OpenAIAdapter(SDKClientHolder[openai.OpenAI]):
    """Talks to api.openai.com (or anything serving the same API) through the `openai` SDK.

    The SDK client is built once per adapter with no retries (the service layer owns
    retries and fallbacks) and without consulting `OPENAI_*` environment variables.
    """

    # openai_compatible servers override these: a key is optional there, and
    # `max_tokens` is the spelling that self-hosted servers understand.
    requires_key: ClassVar[bool] = True
    max_tokens_param: ClassVar[str] = "max_completion_tokens"
    placeholder_key: ClassVar[str] = "not-needed"

    config: ClientConfig

    def __init__(self, config: ClientConfig) -> None:
        self.config = config
        base_url = (config.base_url or "").strip() or DEFAULT_BASE_URLS.get(config.kind, "")
        self._ctx = ErrorContext(
            provider=config.provider_name,
            base_url=base_url,
            timeout_seconds=config.timeout_seconds,
            # The stripped key is what travels, so it is what a server could echo.
            secrets=(config.api_key, (config.api_key or "").strip()),
        )
        self._client: openai.OpenAI | None = None
        self._client_args: dict[str, Any] = {}
        self._async_clients = []
        # Configuration problems surface on first use, before any network call, so
        # building an adapter for display or caching never raises.
        self._setup_problem: Callable[[], AdapterError] | None = None

        key = (config.api_key or "").strip() or None
        name = config.provider_name
        if key is None and self.requires_key:
            self._setup_problem = lambda: ProviderNotInitialized(
                provider=name, key_env=config.key_env
            )
            return
        if not base_url:
            self._setup_problem = lambda: ProviderNotInitialized(
                f"Provider not initialized: {name!r} has no base URL.", provider=name
            )
            return
        try:
            _check_base_url(base_url)
            self._client_args = {
                "api_key": key or self.placeholder_key,
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
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages += [{"role": m.role, "content": m.content} for m in request.history]
        messages.append({"role": "user", "content": request.prompt})
        kwargs: dict[str, Any] = {"model": request.model, "messages": messages}
        if request.max_tokens is not None:
            kwargs[self.max_tokens_param] = request.max_tokens
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        return kwargs

    def _build_async_client(self) -> openai.AsyncOpenAI:
        return _build_async_client(**self._client_args)

    def generate_text(self, request: TextRequest) -> TextResult:
        """Generate text with a single chat completion."""
        return self._run(self._text, request)

    async def agenerate_text(self, request: TextRequest) -> TextResult:
        """Async `generate_text`."""
        return await self._arun(self._text, request)

    def _text(self, ctx: ErrorContext, request: TextRequest) -> Exchange[TextResult]:
        kwargs = self._text_kwargs(request)
        start = time.perf_counter()
        completion = yield lambda client: post_plain_chat(client, kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            completion = _expect(ctx, completion, dict)
            return plain_text_result(completion, model=request.model, latency_ms=latency)

    def stream_text(self, request: TextRequest) -> TextStream:
        """Stream a chat completion; HTTP errors raise here, before the first delta."""
        client = self._sdk()
        ctx = self._ctx.for_model(request.model)
        kwargs = self._text_kwargs(request)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        start = time.perf_counter()
        stream = call_sdk(ctx, lambda: post_plain_chat(client, kwargs, openai.Stream))
        if not isinstance(stream, openai.Stream):
            raise ctx.unreadable()
        try:
            check_event_stream(ctx, stream.response.headers)
        except AdapterError:
            stream.close()
            raise
        reader = _ChunkReader(ctx, request, start)
        return TextStream(_iter_chunks(reader, stream), on_close=stream.close)

    async def astream_text(self, request: TextRequest) -> AsyncTextStream:
        """Async `stream_text`."""
        client = self._async_sdk()
        ctx = self._ctx.for_model(request.model)
        kwargs = self._text_kwargs(request)
        kwargs["stream"] = True
        kwargs["stream_options"] = {"include_usage": True}
        start = time.perf_counter()
        stream = await acall_sdk(ctx, post_plain_chat(client, kwargs, openai.AsyncStream))
        if not isinstance(stream, openai.AsyncStream):
            raise ctx.unreadable()
        try:
            check_event_stream(ctx, stream.response.headers)
        except AdapterError:
            await stream.close()
            raise
        reader = _ChunkReader(ctx, request, start)
        return AsyncTextStream(
            _aiter_chunks(reader, stream), finish=reader.result, on_close=stream.close
        )

    # -- images ------------------------------------------------------------------

    def generate_image(self, request: ImageRequest) -> ImageResult:
        """Generate images; base64 answers are decoded, URL answers are downloaded."""
        return self._run(self._image, request)

    async def agenerate_image(self, request: ImageRequest) -> ImageResult:
        """Async `generate_image`."""
        return await self._arun(self._image, request)

    def _image(self, ctx: ErrorContext, request: ImageRequest) -> Exchange[ImageResult]:
        kwargs: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "size": request.size,
            "n": request.n,
        }
        if request.quality:
            kwargs["quality"] = request.quality
        # DALL-E defaults to URLs; GPT image models always answer in base64 and
        # reject `response_format` outright.
        if request.model.startswith("dall-e"):
            kwargs["response_format"] = "b64_json"
        start = time.perf_counter()
        response = yield lambda client: client.images.generate(**kwargs)
        with reading_response(ctx):
            response = _expect(ctx, response, ImagesResponse)
            items = list(response.data or [])
            if not items:
                raise ctx.make(ProviderError, "returned no images")
            declared_mime = _IMAGE_MIME_BY_FORMAT.get(str(response.output_format or "").lower())
            images: list[GeneratedImage] = []
            for item in items:
                header_mime: str | None = None
                if item.b64_json:
                    data = base64.b64decode(item.b64_json, validate=True)
                elif item.url:
                    download = functools.partial(self._download, ctx, item.url)
                    data, header_mime = yield Blocking(download)
                else:
                    raise ctx.unreadable("returned an image without data")
                mime = declared_mime or sniff_image_mime(data) or header_mime or "image/png"
                images.append(
                    GeneratedImage(data=data, mime_type=mime, revised_prompt=item.revised_prompt)
                )
            usage = response.usage
            return ImageResult(
                images=tuple(images),
                model=request.model,
                usage=Usage(
                    input_tokens=int_or_none(getattr(usage, "input_tokens", None)),
                    output_tokens=int_or_none(getattr(usage, "output_tokens", None)),
                    image_count=len(images),
                    cache_read_tokens=int_or_none(
                        getattr(getattr(usage, "input_tokens_details", None), "cached_tokens", None)
                    ),
                ),
                latency_ms=elapsed_ms(start),
            )

    def _download(self, ctx: ErrorContext, url: str) -> tuple[bytes, str | None]:
        if not url.startswith(("https://", "http://")):
            raise ctx.unreadable("returned an image URL that cannot be fetched")
        try:
            # No auth header: the URL is pre-signed, and our key must not travel to a CDN.
            # The URL comes from the provider's answer, so it gets the same address checks.
            with (
                # The same HTTP client as the SDK's: checked addresses, and the attempt's
                # deadline covers the download.
                build_http_client(
                    timeout=self.config.timeout_seconds,
                    allow_private=self.config.allow_private_endpoints,
                ) as http,
                http.stream("GET", url) as response,
            ):
                if response.status_code >= 400:
                    raise ctx.make(
                        ProviderError,
                        f"image download failed (HTTP {response.status_code})",
                        status_code=response.status_code,
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > _MAX_IMAGE_DOWNLOAD_BYTES:
                        raise ctx.make(ProviderError, "image download too large")
                    chunks.append(chunk)
                content_type = response.headers.get("content-type", "").split(";")[0].strip()
                mime = content_type if content_type.startswith("image/") else None
                return b"".join(chunks), mime
        except AdapterError:
            raise
        except Exception as exc:
            raise map_exception(ctx, exc) from safe_cause(ctx, exc)

    # -- structured output -------------------------------------------------------

    def generate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Ask for JSON matching a schema (`response_format=json_schema`) and parse it."""
        return self._run(self._structured, request)

    async def agenerate_structured(self, request: StructuredRequest) -> StructuredResult:
        """Async `generate_structured`."""
        return await self._arun(self._structured, request)

    def _structured(
        self, ctx: ErrorContext, request: StructuredRequest
    ) -> Exchange[StructuredResult]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": messages,
            "response_format": {
                "type": "json_schema",
                "json_schema": {
                    "name": safe_schema_name(request.schema_name),
                    "schema": request.schema,
                    # Strict mode rejects many ordinary schemas (optional fields,
                    # formats); validation happens in the service layer instead.
                    "strict": False,
                },
            },
        }
        if request.max_tokens is not None:
            kwargs[self.max_tokens_param] = request.max_tokens
        start = time.perf_counter()
        completion = yield lambda client: client.chat.completions.create(**kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            completion = _expect(ctx, completion, ChatCompletion)
            message = completion.choices[0].message
            content = message.content
            if not content:
                refusal = getattr(message, "refusal", None)
                if refusal:
                    raise ctx.make(ProviderError, f"model refused to answer: {refusal}")
                raise ctx.make(ProviderError, "returned no content")
            model = completion.model or request.model
            usage = _chat_usage(completion.usage)
        data = parse_json_text(ctx, content)
        return StructuredResult(
            data=data, raw_text=content, model=model, usage=usage, latency_ms=latency
        )

    # -- chat with tools ---------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResult:
        """Run one assistant turn, offering `request.tools` as functions."""
        return self._run(self._chat, request)

    async def achat(self, request: ChatRequest) -> ChatResult:
        """Async `chat`."""
        return await self._arun(self._chat, request)

    def _chat(self, ctx: ErrorContext, request: ChatRequest) -> Exchange[ChatResult]:
        if request.tool_choice not in _TOOL_CHOICES:
            raise ctx.make(InvalidRequest, f"unknown tool_choice {request.tool_choice!r}")
        kwargs: dict[str, Any] = {
            "model": request.model,
            "messages": [_message_to_wire(ctx, m) for m in request.messages],
        }
        if request.tools:
            kwargs["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": tool.name,
                        "description": tool.description,
                        "parameters": tool.parameters,
                    },
                }
                for tool in request.tools
            ]
            kwargs["tool_choice"] = request.tool_choice
        if request.max_tokens is not None:
            kwargs[self.max_tokens_param] = request.max_tokens
        start = time.perf_counter()
        completion = yield lambda client: client.chat.completions.create(**kwargs)
        latency = elapsed_ms(start)
        with reading_response(ctx):
            completion = _expect(ctx, completion, ChatCompletion)
            choice = completion.choices[0]
            message = choice.message
            tool_calls: list[ToolCall] = []
            for call in message.tool_calls or []:
                if getattr(call, "type", "function") != "function":
                    continue  # custom (free-text) tools are never offered by us
                tool_calls.append(
                    ToolCall(
                        id=call.id,
                        name=call.function.name,
                        arguments=_decode_arguments(
                            ctx, call.function.arguments, call.function.name
                        ),
                    )
                )
            stop = _FINISH_REASONS.get(choice.finish_reason or "", "other")
            # Some compatible servers report "stop" alongside tool calls.
            if tool_calls and stop == "end":
                stop = "tool_calls"
            return ChatResult(
                message=ChatMessage(
                    role="assistant", content=message.content or "", tool_calls=tuple(tool_calls)
                ),
                stop_reason=stop,
                model=completion.model or request.model,
                usage=_chat_usage(completion.usage),
                latency_ms=latency,
            )

    # -- models ------------------------------------------------------------------

    def list_models(self) -> list[str]:
        """Model ids from `GET /models` (first page)."""
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
) -> openai.OpenAI:
    """An SDK client that uses only what we pass, never the process environment."""
    client = openai.OpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        # Passing "" stops the SDK from reading OPENAI_ADMIN_KEY / OPENAI_WEBHOOK_SECRET.
        admin_api_key="",
        webhook_secret="",
        http_client=build_http_client(timeout=timeout, allow_private=allow_private),
    )
    return _without_env_settings(client)


def _build_async_client(
    *, api_key: str, base_url: str, timeout: float, allow_private: bool = True
) -> openai.AsyncOpenAI:
    """The async twin of `_build_client`, built the same way."""
    client = openai.AsyncOpenAI(
        api_key=api_key,
        base_url=base_url,
        timeout=timeout,
        max_retries=0,
        admin_api_key="",
        webhook_secret="",
        http_client=build_async_http_client(timeout=timeout, allow_private=allow_private),
    )
    return _without_env_settings(client)


def _without_env_settings[C: (openai.OpenAI, openai.AsyncOpenAI)](client: C) -> C:
    # The constructor reads OPENAI_ORG_ID, OPENAI_PROJECT_ID and OPENAI_CUSTOM_HEADERS
    # (which may even carry an Authorization header) when nothing is passed; passing
    # "" would send empty headers instead, so clear what it picked up.
    client.organization = None
    client.project = None
    client._custom_headers = {}
    return client
