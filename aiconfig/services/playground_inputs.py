"""What a playground run asks: its columns, the inputs every column gets, earlier turns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters import ChatMessage

MAX_COLUMNS = 4
# A direct provider/model column borrows this task's timeout, retries and log name.
DIRECT_TASK = "text"
# What the page offers for an image column (every choice is passed to the provider as is).
IMAGE_SIZES = ("1024x1024", "1024x1536", "1536x1024", "1792x1024", "1024x1792", "512x512")
IMAGE_QUALITIES = ("standard", "hd", "low", "medium", "high", "auto")
MAX_IMAGES = 4


@dataclass(frozen=True, slots=True)
class Column:
    """What one column runs: a task's chain (`task`) or one `provider`/`model` directly."""

    task: str = ""
    provider: str = ""
    model: str = ""

    @property
    def is_task(self) -> bool:
        """True for a task column (its chain with fallbacks)."""
        return bool(self.task)

    @property
    def route(self) -> str:
        """ "provider/model" of a direct column ("" for a task column or a blank one)."""
        # A half-typed "provider" (no slash) is shown back as typed, not as "provider/".
        return "/".join(part for part in (self.provider, self.model) if part)

    @property
    def label(self) -> str:
        """How the page names the column."""
        return f"Task {self.task}" if self.task else (self.route or "No model chosen")

    def as_dict(self) -> dict[str, str]:
        """The column's settings as saved with a run."""
        return {"task": self.task, "provider": self.provider, "model": self.model}


@dataclass(frozen=True, slots=True)
class Inputs:
    """What every column is asked."""

    prompt: str
    system: str = ""
    temperature: float | None = None
    max_tokens: int | None = None
    # Set: every column answers JSON valid against it (structured output).
    schema: dict[str, Any] | None = None
    # Set: every column is a chat turn offered these tools; tool calls shown as returned.
    tools: list[dict[str, Any]] | None = None
    # Image columns: "" / None leave the task's own default.
    image_size: str = ""
    image_quality: str = ""
    image_count: int | None = None
    # Earlier turns, oldest first: {"prompt": …, "answers": [one per column]}.
    turns: tuple[Mapping[str, Any], ...] = ()


def next_turns(turns: Sequence[Mapping[str, Any]], prompt: str, columns: Sequence[Any]) -> list:
    """The turns after one more exchange: `prompt` and each column's answer to it."""
    answers = [str(c.get("text") or "") if c.get("status") == "answered" else "" for c in columns]
    return [*turns, {"prompt": prompt, "answers": answers}]


def history(turns: Sequence[Mapping[str, Any]], index: int) -> tuple[ChatMessage, ...]:
    """Column `index`'s conversation so far: every user turn and that column's own answers.

    A turn the column did not answer (it failed, or it did not exist yet) sends the user's
    words alone, so each column carries on from what it said itself.
    """
    messages: list[ChatMessage] = []
    for turn in turns:
        messages.append(ChatMessage(role="user", content=str(turn.get("prompt") or "")))
        answers = turn.get("answers") or []
        answer = str(answers[index]) if index < len(answers) else ""
        if answer:
            messages.append(ChatMessage(role="assistant", content=answer))
    return tuple(messages)


def transcript(turns: Sequence[Mapping[str, Any]], index: int, prompt: str) -> str:
    """The conversation as one prompt, for calls that take a single prompt (structured)."""
    if not turns:
        return prompt
    lines = ["The conversation so far:"]
    for message in history(turns, index):
        lines.append(f"{message.role.capitalize()}: {message.content}")
    return "\n".join([*lines, "", f"Now answer this: {prompt}"])
