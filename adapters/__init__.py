"""Provider adapters: one interface over the OpenAI, Anthropic and OpenAI-compatible APIs.

Plain Python (no Django). The service layer builds an adapter per `ClientConfig`
with `build_adapter` and handles fallbacks based on the `AdapterError` kinds.
"""

from __future__ import annotations

import dataclasses

from .anthropic_adapter import AnthropicAdapter
from .base import (
    DEFAULT_BASE_URLS,
    KIND_ANTHROPIC,
    KIND_OPENAI,
    KIND_OPENAI_COMPATIBLE,
    KINDS,
    Adapter,
    AsyncTextStream,
    ChatMessage,
    ChatRequest,
    ChatResult,
    ClientConfig,
    GeneratedImage,
    ImageRequest,
    ImageResult,
    Result,
    StructuredRequest,
    StructuredResult,
    TextRequest,
    TextResult,
    TextStream,
    ToolCall,
    ToolSpec,
    Usage,
    redact,
)
from .deadline import CancelToken, attempt_scope
from .errors import (
    AdapterError,
    AuthenticationFailed,
    CapabilityNotSupported,
    EndpointNotAllowed,
    InvalidRequest,
    ModelNotFound,
    ProviderError,
    ProviderNotInitialized,
    RateLimited,
    TimedOut,
)
from .openai_adapter import OpenAIAdapter
from .openai_compatible import OpenAICompatibleAdapter

_ADAPTER_CLASSES: dict[str, type[OpenAIAdapter] | type[AnthropicAdapter]] = {
    KIND_OPENAI: OpenAIAdapter,
    KIND_ANTHROPIC: AnthropicAdapter,
    KIND_OPENAI_COMPATIBLE: OpenAICompatibleAdapter,
}


def build_adapter(config: ClientConfig, *, key_env: str | None = None) -> Adapter:
    """Create the adapter for `config.kind`. Does no network I/O.

    `key_env` (the environment variable the key is meant to come from) only
    improves the "not initialized" message; it overrides `config.key_env` when given.
    Raises ValueError for an unknown kind.
    """
    cls = _ADAPTER_CLASSES.get(config.kind)
    if cls is None:
        known = ", ".join(sorted(_ADAPTER_CLASSES))
        raise ValueError(f"Unknown provider kind {config.kind!r} (expected one of: {known})")
    if key_env is not None and key_env != config.key_env:
        config = dataclasses.replace(config, key_env=key_env)
    return cls(config)


__all__ = [
    "DEFAULT_BASE_URLS",
    "KINDS",
    "KIND_ANTHROPIC",
    "KIND_OPENAI",
    "KIND_OPENAI_COMPATIBLE",
    "Adapter",
    "AdapterError",
    "AnthropicAdapter",
    "AsyncTextStream",
    "AuthenticationFailed",
    "CancelToken",
    "CapabilityNotSupported",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "ClientConfig",
    "EndpointNotAllowed",
    "GeneratedImage",
    "ImageRequest",
    "ImageResult",
    "InvalidRequest",
    "ModelNotFound",
    "OpenAIAdapter",
    "OpenAICompatibleAdapter",
    "ProviderError",
    "ProviderNotInitialized",
    "RateLimited",
    "Result",
    "StructuredRequest",
    "StructuredResult",
    "TextRequest",
    "TextResult",
    "TextStream",
    "TimedOut",
    "ToolCall",
    "ToolSpec",
    "Usage",
    "attempt_scope",
    "build_adapter",
    "redact",
]
