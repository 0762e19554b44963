"""What a call returns or raises: the run, its attempts, and the reasons an attempt fails."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import ClassVar

from adapters import AdapterError, ChatMessage, GeneratedImage, ToolCall
from aiconfig.exceptions import AIConfigError


class NotConfigured(AdapterError):
    """The configuration rules this attempt out before any request (unknown provider, ...)."""

    kind: ClassVar[str] = "config_error"


class Cancelled(AdapterError):
    """The caller stopped the call (cancelled it, or stopped reading its stream)."""

    kind: ClassVar[str] = "cancelled"


class InvalidOutput(AdapterError):
    """The provider answered, but the answer failed validation (e.g. the slide schema)."""

    kind: ClassVar[str] = "invalid_output"


class OutOfTime(AdapterError):
    """The task's total time limit ran out before this route could be tried."""

    kind: ClassVar[str] = "total_time_limit"


class BudgetExceeded(AdapterError):
    """A `stop` budget is spent: the call is refused before any request is made."""

    kind: ClassVar[str] = "budget_exceeded"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one provider, as logged."""

    provider: str
    model: str
    attempt: int
    is_fallback: bool
    outcome: str
    error_kind: str = ""
    error: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Slide:
    """One slide of the `video-slides` shape."""

    image_prompt: str
    narration: str


@dataclass(frozen=True, slots=True)
class TaskRun:
    """The answer to a task call plus who answered, how long it took and what it cost."""

    task: str
    output_kind: str
    operation: str
    request_id: uuid.UUID
    provider: str
    model: str
    response_model: str
    fallback_used: bool
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None
    image_count: int
    cost_usd: Decimal | None
    attempts: tuple[Attempt, ...]
    text: str | None = None
    images: tuple[GeneratedImage, ...] = ()
    slides: tuple[Slide, ...] = ()
    data: object = None
    message: ChatMessage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    # Set when the call succeeded but its log rows could not be written.
    log_error: str | None = None


class TaskFailed(AIConfigError):
    """Every attempt failed; `attempts` says who was tried and why each failed."""

    def __init__(
        self,
        *,
        task: str,
        request_id: uuid.UUID,
        attempts: Sequence[Attempt],
        log_error: str | None = None,
        after_first_token: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.task = task
        # When trying again may work (a spent budget's reset), in seconds.
        self.retry_after = retry_after
        self.request_id = request_id
        self.attempts = tuple(attempts)
        self.log_error = log_error
        self.after_first_token = after_first_token
        lines = [f"{a.provider}/{a.model}: {a.error}" for a in self.attempts]
        if self.attempts and self.attempts[-1].error_kind == Cancelled.kind:
            head = f"Task '{task}' was cancelled"
        elif self.budget_exceeded:
            head = f"Task '{task}' was not run"
        elif after_first_token:
            head = f"Task '{task}': the stream failed after it had started"
        elif len(self.attempts) > 1:
            count = len(self.attempts)
            head = f"Fallback provider failed: task '{task}' — all {count} attempts failed"
        else:
            head = f"Task '{task}' failed"
        super().__init__(head + ":\n" + "\n".join(f"  {i}. {line}" for i, line in
                                                enumerate(lines, start=1)))  # fmt: skip

    @property
    def budget_exceeded(self) -> bool:
        """True when a spent `stop` budget refused the call (no request was made)."""
        return bool(self.attempts) and self.attempts[0].error_kind == BudgetExceeded.kind

    @property
    def cancelled(self) -> bool:
        """True when the caller cancelled the call."""
        return bool(self.attempts) and self.attempts[-1].error_kind == Cancelled.kind
