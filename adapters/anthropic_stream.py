"""Anthropic's streamed text: server-sent events in, text deltas and a `TextResult` out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import anthropic

from ._common import (
    ErrorContext,
    elapsed_ms,
    int_or_none,
    map_exception,
    reading_response,
    safe_cause,
)
from .anthropic_wire import _anthropic_usage
from .base import TextRequest, TextResult
from .errors import AdapterError, ProviderError


class _EventReader:
    """Turns stream events into deltas and, at the end, the final `TextResult`."""

    def __init__(self, ctx: ErrorContext, request: TextRequest, start: float) -> None:
        self.ctx = ctx
        self.start = start
        self.parts: list[str] = []
        self.model = request.model
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cache_read: int | None = None
        self.cache_write: int | None = None
        self.stop_reason: str | None = None
        self.finished = False

    def feed(self, event: Any) -> str:
        text = ""
        with reading_response(self.ctx):
            kind = event.type
            if kind == "message_start":
                self.model = event.message.model or self.model
                start_usage = event.message.usage
                self.input_tokens = int_or_none(getattr(start_usage, "input_tokens", None))
                self.cache_read = int_or_none(getattr(start_usage, "cache_read_input_tokens", None))
                self.cache_write = int_or_none(
                    getattr(start_usage, "cache_creation_input_tokens", None)
                )
            elif kind == "content_block_delta":
                if event.delta.type == "text_delta":
                    text = event.delta.text
            elif kind == "message_delta":
                usage = event.usage
                self.output_tokens = int_or_none(getattr(usage, "output_tokens", None))
                late_input = int_or_none(getattr(usage, "input_tokens", None))
                if late_input is not None:
                    self.input_tokens = late_input
                # message_delta's counts are cumulative: a late figure replaces the first.
                late_read = int_or_none(getattr(usage, "cache_read_input_tokens", None))
                if late_read is not None:
                    self.cache_read = late_read
                late_write = int_or_none(getattr(usage, "cache_creation_input_tokens", None))
                if late_write is not None:
                    self.cache_write = late_write
                self.stop_reason = event.delta.stop_reason or self.stop_reason
            elif kind == "message_stop":
                self.finished = True
        if text:
            self.parts.append(text)
        return text

    def result(self) -> TextResult:
        if not self.finished:
            raise self.ctx.make(ProviderError, "stream ended before the response was complete")
        return TextResult(
            text="".join(self.parts),
            model=self.model,
            usage=_anthropic_usage(
                input_tokens=self.input_tokens,
                output_tokens=self.output_tokens,
                cache_read=self.cache_read,
                cache_write=self.cache_write,
            ),
            latency_ms=elapsed_ms(self.start),
            finish_reason=self.stop_reason,
        )


def _iter_events(
    reader: _EventReader, stream: anthropic.Stream[Any]
) -> Generator[str, None, TextResult]:
    try:
        # Unlike the OpenAI SDK, this stream lets raw httpx2 errors through; they
        # are mapped below like any other.
        for event in stream:
            text = reader.feed(event)
            if text:
                yield text
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(reader.ctx, exc) from safe_cause(reader.ctx, exc)
    finally:
        stream.close()
    return reader.result()


async def _aiter_events(
    reader: _EventReader, stream: anthropic.AsyncStream[Any]
) -> AsyncIterator[str]:
    try:
        async for event in stream:
            text = reader.feed(event)
            if text:
                yield text
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(reader.ctx, exc) from safe_cause(reader.ctx, exc)
    finally:
        await stream.close()
