"""The Tasks page: each task's chain with badges and problems, and "Try it" results."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING

from aiconfig.endpoints import public_error
from aiconfig.formatting import seconds
from aiconfig.presenters.common import CAPABILITY_LABELS, OUTPUT_LABELS, SOURCE_LABELS, Badge
from aiconfig.snapshots import ConfigSnapshot, ModelInfo, RouteConfig, TaskConfig
from aiconfig.validation import ConfigProblem, check_task_config

if TYPE_CHECKING:
    from aiconfig.services.calls import Attempt, Slide, TaskRun


@dataclass(frozen=True, slots=True)
class RouteView:
    """One step of a chain (primary or fallback) as the Tasks page shows it."""

    position: int
    provider: str
    provider_label: str
    model: str
    known_provider: bool
    badges: tuple[Badge, ...] | None  # None: the model is not listed, capabilities unknown
    source: str
    source_label: str
    model_defaulted: bool
    problems: tuple[ConfigProblem, ...]

    @property
    def is_fallback(self) -> bool:
        """True for every step after the primary."""
        return self.position > 0

    @property
    def has_error(self) -> bool:
        """True when a problem on this step blocks calls."""
        return any(p.is_error for p in self.problems)


@dataclass(frozen=True, slots=True)
class TaskCard:
    """Everything the Tasks page shows about one task."""

    name: str
    description: str
    output_kind: str
    output_label: str
    capability: str
    builtin: bool
    primary: RouteView
    fallbacks: tuple[RouteView, ...]
    timeout_seconds: float
    max_retries: int
    errors: tuple[ConfigProblem, ...]
    warnings: tuple[ConfigProblem, ...]
    total_timeout_seconds: float | None = None

    @property
    def timeout_label(self) -> str:
        """The timeout as typed ("60 s", "2.5 s"), never rounded to a misleading "0.0 s"."""
        return seconds(self.timeout_seconds)

    @property
    def chain(self) -> tuple[RouteView, ...]:
        """Primary first, then the fallbacks in order."""
        return (self.primary, *self.fallbacks)

    @property
    def status(self) -> str:
        """The colour of the card's status dot: "error", "warning" or "ok"."""
        if self.errors:
            return "error"
        return "warning" if self.warnings else "ok"

    @property
    def status_label(self) -> str:
        """The status in words, e.g. "2 warnings"."""
        if self.errors:
            n = len(self.errors)
            return f"{n} error{'s' if n != 1 else ''}"
        if self.warnings:
            n = len(self.warnings)
            return f"{n} warning{'s' if n != 1 else ''}"
        return "Ready"

    @property
    def dom_id(self) -> str:
        """The card's element id (task names are slugs, so they are safe in ids)."""
        return f"task-{self.name}"


def _badges(info: ModelInfo | None, capability: str) -> tuple[Badge, ...] | None:
    if info is None:
        return None
    return tuple(Badge(c, CAPABILITY_LABELS[c], c == capability) for c in info.capabilities)


def _field_position(problem: ConfigProblem) -> int | None:
    """Which chain step a problem belongs to: 0 primary, n fallback n, None the whole task."""
    if problem.field in ("provider", "model"):
        return 0
    if problem.field.startswith("fallbacks."):
        return int(problem.field.split(".")[1]) + 1
    return None


def route_view(
    *,
    snapshot: ConfigSnapshot,
    step: RouteConfig,
    position: int,
    capability: str,
    problems: Sequence[ConfigProblem],
) -> RouteView:
    """One chain step with its badges and the problems that concern it."""
    provider = snapshot.providers.get(step.provider)
    return RouteView(
        position=position,
        provider=step.provider,
        provider_label=provider.display_name if provider else step.provider,
        model=step.model,
        known_provider=provider is not None,
        badges=_badges(snapshot.model_info(step.provider, step.model), capability),
        source=step.source,
        source_label=SOURCE_LABELS.get(step.source, step.source),
        model_defaulted=step.model_defaulted,
        problems=tuple(p for p in problems if _field_position(p) == position),
    )


def task_card(
    config: TaskConfig, snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> TaskCard:
    """A task's card: its chain with badges, and its problems split into errors and warnings."""
    problems = check_task_config(
        config=config,
        providers=snapshot.providers,
        environ=os.environ if environ is None else environ,
    )
    chain = [
        route_view(
            snapshot=snapshot,
            step=step,
            position=position,
            capability=config.capability,
            problems=problems,
        )
        for position, step in enumerate(config.chain)
    ]
    return TaskCard(
        name=config.task,
        description=config.description,
        output_kind=config.output_kind,
        output_label=OUTPUT_LABELS.get(config.output_kind, config.output_kind),
        capability=config.capability,
        builtin=config.builtin,
        primary=chain[0],
        fallbacks=tuple(chain[1:]),
        timeout_seconds=config.timeout_seconds,
        max_retries=config.max_retries,
        total_timeout_seconds=config.total_timeout_seconds,
        errors=tuple(p for p in problems if p.is_error),
        warnings=tuple(p for p in problems if not p.is_error),
    )


# --- "Try it" ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TryResult:
    """What a "Try it" run produced, or why it failed.

    Numbers stay numbers: the template formats them with the `aiconfig_format` filters,
    the same functions the CLI prints with. Slides and attempts are the services' own
    shapes (`calls.Slide`, `calls.Attempt`), attempts with their errors made public.
    """

    ok: bool
    task: str
    message: str = ""
    route: str = ""
    fallback_used: bool = False
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: Decimal | None = None
    text: str | None = None
    images: tuple[str, ...] = ()  # data: URIs
    slides: tuple[Slide, ...] = ()
    tool_calls: tuple[tuple[str, str], ...] = ()
    attempts: tuple[Attempt, ...] = ()


def public_attempts(attempts: Iterable[Attempt]) -> tuple[Attempt, ...]:
    """Attempts whose errors are in plain words, never the body of whatever answered.

    A failure's latency is zeroed too: its timing tells a refused port from a filtered
    one, so the page shows a latency for successful attempts only.
    """
    shown = []
    for a in attempts:
        if a.outcome == "success":
            shown.append(a)
            continue
        kind, error = (
            public_error(kind=a.error_kind or "", message=a.error)
            if a.error
            else (a.error_kind or "", "")
        )
        shown.append(replace(a, error_kind=kind, error=error, latency_ms=0.0))
    return tuple(shown)


def try_result(run: TaskRun) -> TryResult:
    """A successful `calls.TaskRun` as the result panel shows it."""
    images = tuple(
        f"data:{getattr(i, 'mime_type', '') or 'image/png'};base64,"
        + base64.b64encode(i.data).decode("ascii")
        for i in (run.images or ())
        if getattr(i, "data", None)
    )
    tool_calls = tuple(
        (
            c.name,
            c.arguments
            if isinstance(c.arguments, str)
            else json.dumps(c.arguments, indent=2, ensure_ascii=False),
        )
        for c in (run.tool_calls or ())
    )
    return TryResult(
        ok=True,
        task=run.task,
        route=f"{run.provider}/{run.model}",
        fallback_used=run.fallback_used,
        latency_ms=run.latency_ms,
        input_tokens=run.input_tokens,
        output_tokens=run.output_tokens,
        cost_usd=run.cost_usd,
        text=run.text,
        images=images,
        slides=tuple(run.slides or ()),
        tool_calls=tool_calls,
        attempts=public_attempts(run.attempts),
    )


def try_failure(task: str, message: str, attempts: Iterable[Attempt] = ()) -> TryResult:
    """A failed run: the message in words and every attempt that was made."""
    rows = public_attempts(attempts)
    if rows:
        # TaskFailed's message lists each attempt after its first line; the attempt
        # rows show them already, so keep only the headline.
        message = message.splitlines()[0].rstrip(":") + "."
    return TryResult(ok=False, task=task, message=message, attempts=rows)
