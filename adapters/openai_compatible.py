"""Adapter for self-hosted or third-party servers that speak the OpenAI API (Ollama, vLLM, ...)."""

from __future__ import annotations

from typing import ClassVar

from .openai_adapter import OpenAIAdapter


class OpenAICompatibleAdapter(OpenAIAdapter):
    """The OpenAI surface against a custom base URL, where an API key is optional.

    Without a key the SDK still gets a placeholder (it refuses to start without
    one), which such servers ignore. Token limits are sent as `max_tokens`, the
    spelling these servers have long understood.
    """

    requires_key: ClassVar[bool] = False
    max_tokens_param: ClassVar[str] = "max_tokens"
