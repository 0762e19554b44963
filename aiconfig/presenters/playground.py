"""What the playground page shows: columns, their results in words, the model picker, runs.

Kept apart from `presenters` (being split into a package); the page's template and
the JSON export read only what is built here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from adapters import Usage
from aiconfig import formatting
from aiconfig.formatting import ms, usd
from aiconfig.known_models import known_models_for
from aiconfig.models import PlaygroundRun
from aiconfig.presenters.common import ago
from aiconfig.pricing import call_cost
from aiconfig.services.playground import DIRECT_TASK, Column, Inputs
from aiconfig.snapshots import ConfigSnapshot

STATUS_WORDS = {
    "running": "Running…",
    "answered": "Answered",
    "failed": "Failed",
    "stopped": "Stopped",
}


@dataclass(frozen=True, slots=True)
class AttemptLine:
    """One attempt of a column's chain, in words."""

    route: str
    ok: bool
    words: str


@dataclass(frozen=True, slots=True)
class ImageView:
    """One generated image of a saved run: where to see it and to download it."""

    url: str
    download_url: str
    label: str
    revised_prompt: str


@dataclass(frozen=True, slots=True)
class ColumnView:
    """One column: its settings, and what came back (blank before a run)."""

    index: int
    number: int
    column: Column
    status: str = ""
    status_words: str = ""
    text: str = ""
    error: str = ""
    answered_by: str = ""
    fallback_used: bool = False
    attempts: tuple[AttemptLine, ...] = ()
    first_token: str = "—"
    latency: str = "—"
    tokens: str = "unknown"
    cost: str = "unknown"
    # A structured answer that passed its schema (shown as "valid against the schema").
    structured: bool = False
    images: tuple[ImageView, ...] = ()
    # The request sent and the response received, pretty JSON, keys removed.
    raw_request: str = ""
    raw_response: str = ""
    # Earlier turns of the conversation as this column had them: (you, its answer).
    history: tuple[tuple[str, str], ...] = ()
    prompt: str = ""

    @property
    def label(self) -> str:
        """The column's name on the page."""
        return self.column.label

    @property
    def promote_task(self) -> str:
        """The task "Use for task" suggests: the column's own, else `image` or `text`."""
        # A model column that drew images ran on the image task's settings.
        return self.column.task or ("image" if self.images else DIRECT_TASK)

    @property
    def answered(self) -> bool:
        """True when the column got an answer (it may be promoted to a task)."""
        return self.status == "answered" and bool(self.answered_by)


def _cost(value: Any) -> str:
    if value in (None, ""):
        return "unknown"
    try:
        return usd(Decimal(str(value)))
    except InvalidOperation:
        return "unknown"


def _attempt_line(row: Mapping[str, Any]) -> AttemptLine:
    ok = bool(row.get("ok"))
    role = "fallback" if row.get("is_fallback") else "primary"
    if ok:
        words = f"answered ({role})"
    elif row.get("outcome") == "cancelled":
        words = f"stopped ({role})"
    else:
        words = f"failed ({role}): {row.get('error') or row.get('error_kind') or 'error'}"
    return AttemptLine(route=str(row.get("route", "")), ok=ok, words=words)


def _images(run_id: int | None, index: int, rows: Any) -> tuple[ImageView, ...]:
    if run_id is None:
        return ()
    views = []
    for row in rows or ():
        position = int(row.get("position", 0))
        url = reverse("playground_image", args=(run_id, index, position))
        revised = str(row.get("revised_prompt") or "")
        views.append(ImageView(url, f"{url}?download=1", f"Image {position + 1}", revised))
    return tuple(views)


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False) if value else ""


def _history(turns: Sequence[Mapping[str, Any]], index: int) -> tuple[tuple[str, str], ...]:
    rows = []
    for turn in turns or ():
        answers = turn.get("answers") or []
        answer = str(answers[index]) if index < len(answers) else ""
        rows.append((str(turn.get("prompt") or ""), answer))
    return tuple(rows)


def column_view(
    index: int,
    column: Column,
    result: Mapping[str, Any] | None = None,
    *,
    turns: Sequence[Mapping[str, Any]] = (),
    run_id: int | None = None,
    prompt: str = "",
) -> ColumnView:
    """A column with its saved result (if any) and its earlier turns, formatted for people."""
    history = _history(turns, index)
    if not result or result.get("status") in (None, "running"):
        return ColumnView(index=index, number=index + 1, column=column, history=history)
    status = str(result.get("status", ""))
    raw = result.get("raw") or {}
    return ColumnView(
        index=index,
        number=index + 1,
        column=column,
        status=status,
        status_words=STATUS_WORDS.get(status, status),
        text=str(result.get("text") or ""),
        error=str(result.get("error") or ""),
        answered_by=str(result.get("answered_by") or ""),
        fallback_used=bool(result.get("fallback_used")),
        attempts=tuple(_attempt_line(a) for a in result.get("attempts") or ()),
        # A whole answer (JSON, tools, slides) has no first token to time.
        first_token=ms(result.get("first_token_ms"))
        if result.get("streamed", True)
        else "not streamed",
        latency=ms(result.get("latency_ms")),
        tokens=formatting.tokens(result.get("input_tokens"), result.get("output_tokens")),
        cost=_cost(result.get("cost_usd")),
        structured=bool(result.get("structured")),
        images=_images(run_id, index, result.get("images")),
        raw_request=_pretty(raw.get("request")),
        raw_response=_pretty(raw.get("response")),
        history=history,
        prompt=prompt if history else "",
    )


def run_columns(run: PlaygroundRun) -> list[ColumnView]:
    """A saved run's columns with their results."""
    return [
        column_view(
            i,
            Column(c.get("task", ""), c.get("provider", ""), c.get("model", "")),
            c,
            turns=run.turns or (),
            run_id=run.pk,
            prompt=run.prompt,
        )
        for i, c in enumerate(run.columns)
    ]


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """A listed model of an enabled provider, as the picker offers it."""

    value: str  # "provider/model"
    capabilities: str
    price: str

    @property
    def label(self) -> str:
        """What the picker shows next to the value."""
        return f"{self.capabilities} · {self.price}"


def _per_million(snapshot: ConfigSnapshot, provider: str, model: str) -> str:
    info = snapshot.providers[provider]
    prices = snapshot.prices

    def rate(usage: Usage) -> Decimal | None:
        return call_cost(provider=info, model=model, usage=usage, prices=prices)

    rates = (
        rate(Usage(input_tokens=1_000_000, output_tokens=0)),
        rate(Usage(input_tokens=0, output_tokens=1_000_000)),
    )
    if rates[0] is None or rates[1] is None:
        return "price unknown"
    return f"${rates[0].normalize():f} in / ${rates[1].normalize():f} out per 1M tokens"


def model_choices(snapshot: ConfigSnapshot) -> list[ModelChoice]:
    """Every enabled provider's listed text and image models, then its known text ones."""
    choices = []
    for provider in sorted(snapshot.providers.values(), key=lambda p: p.name):
        if not provider.enabled:
            continue
        for model in sorted(provider.models.values(), key=lambda m: m.name):
            if not (model.text or model.image):
                continue
            choices.append(
                ModelChoice(
                    value=f"{provider.name}/{model.name}",
                    capabilities=", ".join(model.capabilities),
                    price=_per_million(snapshot, provider.name, model.name),
                )
            )
        # Then what the price data knows of the provider and we do not list.
        for known in known_models_for(provider.pricing_id, "text", besides=set(provider.models)):
            choices.append(
                ModelChoice(
                    value=f"{provider.name}/{known.name}",
                    capabilities=f"{', '.join(known.capabilities)} (guessed, not listed)",
                    price=known.price,
                )
            )
    return choices


def state_query(inputs: Inputs, columns: Sequence[Column]) -> str:
    """The page's state as its query string (`?task=…&model=…&prompt=…`), for links."""
    pairs: list[tuple[str, str]] = []
    for column in columns:
        pairs.append(("task", column.task) if column.is_task else ("model", column.route))
    for key, value in (
        ("prompt", inputs.prompt),
        ("system", inputs.system),
        ("temperature", "" if inputs.temperature is None else f"{inputs.temperature:g}"),
        ("max_tokens", "" if inputs.max_tokens is None else str(inputs.max_tokens)),
    ):
        if value:
            pairs.append((key, value))
    return urlencode(pairs)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A saved run in the list."""

    id: int
    when: str
    who: str
    prompt: str
    columns: str
    status: str


def run_rows(runs: Iterable[PlaygroundRun]) -> list[RunRow]:
    """Saved runs for the list, newest first as given."""
    rows = []
    for run in runs:
        prompt = run.prompt if len(run.prompt) <= 80 else run.prompt[:79] + "…"
        labels = [
            column_view(
                i, Column(c.get("task", ""), c.get("provider", ""), c.get("model", ""))
            ).label
            for i, c in enumerate(run.columns)
        ]
        rows.append(
            RunRow(
                id=run.pk,
                when=ago(run.created_at),
                who=run.user.get_username() if run.user else "someone",
                prompt=prompt,
                columns=" · ".join(labels),
                status=run.get_status_display(),
            )
        )
    return rows


def run_export(run: PlaygroundRun) -> dict[str, Any]:
    """A saved run as JSON: inputs, columns with settings and results, who and when."""
    return {
        "id": run.pk,
        "created_at": run.created_at.isoformat(),
        "user": run.user.get_username() if run.user else None,
        "status": run.status,
        "prompt": run.prompt,
        "system": run.system,
        "temperature": run.temperature,
        "max_tokens": run.max_tokens,
        "image_size": run.image_size,
        "image_quality": run.image_quality,
        "image_count": run.image_count,
        "turns": run.turns,
        "columns": run.columns,
    }


def run_markdown(run: PlaygroundRun) -> str:
    """A saved run as Markdown: the inputs, then each column's answer and numbers."""
    who = run.user.get_username() if run.user else "someone"
    lines = [
        f"# Playground run #{run.pk}",
        "",
        f"{run.created_at:%Y-%m-%d %H:%M} UTC · by {who} · {run.get_status_display()}",
    ]
    for number, turn in enumerate(run.turns or (), start=1):
        lines += ["", f"## Turn {number}", "", _fenced(str(turn.get("prompt") or ""))]
    lines += ["", "## Prompt" + (f" (turn {len(run.turns) + 1})" if run.turns else ""), ""]
    lines += [_fenced(run.prompt)]
    if run.system:
        lines += ["", "## System prompt", "", _fenced(run.system)]
    settings = [
        f"temperature {run.temperature:g}" if run.temperature is not None else "",
        f"max tokens {run.max_tokens}" if run.max_tokens is not None else "",
    ]
    if any(settings):
        lines += ["", "Settings: " + ", ".join(s for s in settings if s)]
    for view in run_columns(run):
        lines += ["", f"## {view.number}. {view.label}", ""]
        state = view.status_words + (f" by {view.answered_by}" if view.answered_by else "")
        lines.append(state + (" (a fallback)" if view.fallback_used else ""))
        lines += [
            "",
            f"First token {view.first_token} · latency {view.latency} · "
            f"tokens {view.tokens} · cost {view.cost}",
        ]
        for number, (_prompt, answer) in enumerate(view.history, start=1):
            lines += ["", f"Turn {number}, its answer:", "", _fenced(answer or "(no answer)")]
        if view.text:
            lines += ["", _fenced(view.text)]
        if view.error:
            lines += ["", f"Error: {view.error}"]
        if view.attempts:
            lines += [""] + [f"{i}. `{a.route}` {a.words}" for i, a in
                             enumerate(view.attempts, start=1)]  # fmt: skip
    return "\n".join(lines) + "\n"


def _fenced(text: str) -> str:
    # A fence longer than any run of backticks inside, so the text cannot close it.
    longest = max((len(ticks) for ticks in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}text\n{text}\n{fence}"
