"""OpenAI's streamed chat: chunks in, text deltas and a `TextResult` out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Generator
from typing import Any

import openai

from ._common import (
    ErrorContext,
    elapsed_ms,
    map_exception,
    reading_response,
    safe_cause,
)
from .base import (
    TextRequest,
    TextResult,
    Usage,
)
from .errors import AdapterError, ProviderError
from .openai_wire import _chat_usage, json_text


class _ChunkReader:
    """Turns stream chunks into deltas and, at the end, the final `TextResult`."""

    def __init__(self, ctx: ErrorContext, request: TextRequest, start: float) -> None:
        self.ctx = ctx
        self.start = start
        self.parts: list[str] = []
        self.usage = Usage()
        self.model = request.model
        self.finish_reason: str | None = None

    def feed(self, chunk: Any) -> list[str]:
        """The text deltas of one chunk (a JSON object, see `post_plain_chat`)."""
        texts: list[str] = []
        with reading_response(self.ctx):
            if not isinstance(chunk, dict):
                raise TypeError(f"expected a JSON object, got {type(chunk).__name__}")
            self.model = json_text(chunk.get("model")) or self.model
            if chunk.get("usage") is not None:
                self.usage = _chat_usage(chunk["usage"])
            for choice in chunk.get("choices") or ():
                if choice.get("index", 0) != 0:
                    continue
                delta = choice.get("delta")
                if delta:
                    text = json_text(delta.get("content"))
                    if text:
                        texts.append(text)
                finish = json_text(choice.get("finish_reason"))
                if finish:
                    self.finish_reason = finish
        self.parts.extend(texts)
        return texts

    def result(self) -> TextResult:
        # Without a finish_reason the body was cut short (a proxy closing an
        # un-chunked response looks like a clean end of stream).
        if self.finish_reason is None:
            raise self.ctx.make(ProviderError, "stream ended before the response was complete")
        return TextResult(
            text="".join(self.parts),
            model=self.model,
            usage=self.usage,
            latency_ms=elapsed_ms(self.start),
            finish_reason=self.finish_reason,
        )


def _iter_chunks(
    reader: _ChunkReader, stream: openai.Stream[Any]
) -> Generator[str, None, TextResult]:
    try:
        for chunk in stream:
            yield from reader.feed(chunk)
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(reader.ctx, exc) from safe_cause(reader.ctx, exc)
    finally:
        stream.close()
    return reader.result()


async def _aiter_chunks(
    reader: _ChunkReader, stream: openai.AsyncStream[Any]
) -> AsyncIterator[str]:
    try:
        async for chunk in stream:
            for text in reader.feed(chunk):
                yield text
    except AdapterError:
        raise
    except Exception as exc:
        raise map_exception(reader.ctx, exc) from safe_cause(reader.ctx, exc)
    finally:
        await stream.close()
