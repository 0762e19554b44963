"""View models for the dashboard: plain objects shaped for the templates.

Templates only print what these functions prepare, so every decision about what a
page shows (labels, which problem goes where, how a key is masked) lives in Python
and can be tested without rendering HTML.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone
from django.utils.timesince import timesince

from aiconfig.catalog import BUILTIN_PROVIDERS_BY_NAME, BUILTIN_TASKS_BY_NAME
from aiconfig.endpoints import public_error
from aiconfig.exceptions import StaleEdit
from aiconfig.models import Channel, ConfigChange, OutputKind, ProviderKind, Source
from aiconfig.pricing import format_usd
from aiconfig.selectors import DailyUsage, UsageRow, providers_in_use
from aiconfig.services.history import describe_revert
from aiconfig.snapshots import ConfigSnapshot, ModelInfo, ProviderInfo, RouteConfig, TaskConfig
from aiconfig.validation import ConfigProblem, check_provider, check_task_config

CAPABILITY_LABELS: dict[str, str] = {
    "text": "Text",
    "image": "Image",
    "structured": "JSON",
    "tools": "Tools",
}
SOURCE_LABELS: dict[str, str] = {
    Source.ENV: "from env",
    Source.DEFAULT: "default",
    Source.EDITED: "edited",
}
OUTPUT_LABELS: dict[str, str] = dict(OutputKind.choices)
KIND_LABELS: dict[str, str] = dict(ProviderKind.choices)


@dataclass(frozen=True, slots=True)
class Badge:
    """A capability shown as a small pill; `needed` marks the one the task requires."""

    name: str
    label: str
    needed: bool = False


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


def format_seconds(value: float) -> str:
    """Seconds with up to six significant digits and no trailing zeros: 60 s, 2.5 s, 0.001 s."""
    return f"{value:g} s"


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
        return format_seconds(self.timeout_seconds)

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


def task_cards(
    snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> list[TaskCard]:
    """Every task's card, built-in tasks first, then by name."""
    configs = sorted(snapshot.tasks.values(), key=lambda c: (not c.builtin, c.task))
    return [task_card(c, snapshot, environ) for c in configs]


# --- providers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ModelRow:
    """A listed model of a provider."""

    name: str
    badges: tuple[Badge, ...]
    notes: str
    is_default_text: bool
    is_default_image: bool


@dataclass(frozen=True, slots=True)
class ProviderCard:
    """Everything the Providers page shows about one provider; never the key itself."""

    info: ProviderInfo
    kind_label: str
    base_url: str
    base_url_is_sdk_default: bool
    key_env: str
    key_state: str  # "set", "missing", "missing-unused" or "not-needed"
    key_text: str
    models: tuple[ModelRow, ...]
    used_by: tuple[str, ...]
    problems: tuple[ConfigProblem, ...] = field(default=())

    @property
    def name(self) -> str:
        """The provider's name (its id in tasks and env vars)."""
        return self.info.name

    @property
    def dom_id(self) -> str:
        """The card's element id."""
        return f"provider-{self.info.name}"


def key_text(info: ProviderInfo, environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The key's state and how to say it: ("set", "set …WXYZ"), ("missing", "missing")."""
    status = info.key_status(environ)
    if not status.env_var:
        return (
            ("missing", "no key variable configured")
            if status.required
            else (
                "not-needed",
                "not needed",
            )
        )
    if not status.allowed:
        return "missing", "not allowed as a key variable, never read"
    if status.is_set:
        return "set", f"set {status.masked}".strip()
    return ("missing", "missing") if status.required else ("not-needed", "not set (optional)")


def provider_card(
    info: ProviderInfo, snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> ProviderCard:
    """One provider's card, with its models sorted by name and the tasks that use it."""
    used_by = tuple(sorted(providers_in_use(snapshot).get(info.name, [])))
    state, text = key_text(info, environ)
    if state == "missing" and not used_by:
        # Red is for what breaks calls; a key no task needs yet is just information.
        state = "missing-unused"
    models = tuple(
        ModelRow(
            name=m.name,
            badges=tuple(Badge(c, CAPABILITY_LABELS[c]) for c in m.capabilities),
            notes=m.notes,
            is_default_text=m.name == info.default_text_model,
            is_default_image=m.name == info.default_image_model,
        )
        for m in sorted(info.models.values(), key=lambda m: m.name.lower())
    )
    return ProviderCard(
        info=info,
        kind_label=KIND_LABELS.get(info.kind, info.kind),
        base_url=info.effective_base_url,
        base_url_is_sdk_default=not info.base_url and bool(info.effective_base_url),
        key_env=info.api_key_env,
        key_state=state,
        key_text=text,
        models=models,
        used_by=used_by,
        problems=tuple(check_provider(provider=info, in_use_by=used_by)),
    )


def provider_cards(
    snapshot: ConfigSnapshot, environ: Mapping[str, str] | None = None
) -> list[ProviderCard]:
    """Every provider: those in use first, then enabled ones, then the rest; by name within."""
    used = providers_in_use(snapshot)
    infos = sorted(
        snapshot.providers.values(),
        key=lambda p: (p.name not in used, not p.enabled, p.name),
    )
    return [provider_card(p, snapshot, environ) for p in infos]


@dataclass(frozen=True, slots=True)
class DisablePlan:
    """The confirm step of turning a provider off: which tasks it serves, and what happens."""

    provider: str
    tasks: tuple[str, ...]
    stranded: tuple[str, ...]  # no other enabled provider in their chain: every call fails
    falls_back: tuple[str, ...]  # another enabled provider in their chain takes over


def disable_plan(info: ProviderInfo, snapshot: ConfigSnapshot) -> DisablePlan | None:
    """What disabling `info` does to the tasks that use it (None when no task does)."""
    stranded: list[str] = []
    falls_back: list[str] = []
    for config in sorted(snapshot.tasks.values(), key=lambda c: c.task):
        chain = [step.provider for step in config.chain]
        if info.name not in chain:
            continue
        others = [
            snapshot.providers[name]
            for name in chain
            if name != info.name and name in snapshot.providers
        ]
        (falls_back if any(p.enabled for p in others) else stranded).append(config.task)
    if not stranded and not falls_back:
        return None
    return DisablePlan(
        provider=info.display_name,
        tasks=tuple(sorted(stranded + falls_back)),
        stranded=tuple(stranded),
        falls_back=tuple(falls_back),
    )


# --- history ------------------------------------------------------------------------

CHANNEL_LABELS: dict[str, str] = dict(Channel.choices)
TARGET_LABELS: dict[str, str] = dict(ConfigChange.Target.choices)
REVERTIBLE_TARGETS = frozenset(
    {ConfigChange.Target.TASK, ConfigChange.Target.PROVIDER, ConfigChange.Target.MODEL}
)
# Reverting their creation would delete a built-in, which the services refuse: no button.
BUILTIN_NAMES: dict[str, frozenset[str]] = {
    ConfigChange.Target.TASK: frozenset(BUILTIN_TASKS_BY_NAME),
    ConfigChange.Target.PROVIDER: frozenset(BUILTIN_PROVIDERS_BY_NAME),
}
# Why a change has no Revert button even for a superuser, shown on its row.
NOT_REVERTABLE: dict[str, str] = {
    ConfigChange.Target.CALLLOG: "Pruned call-log rows are gone for good: this cannot be reverted.",
}
# Permission needed to revert a change, by what it changed.
REVERT_PERMISSIONS: dict[str, str] = {
    ConfigChange.Target.TASK: "aiconfig.change_taskassignment",
    ConfigChange.Target.PROVIDER: "aiconfig.change_provider",
    ConfigChange.Target.MODEL: "aiconfig.change_providermodel",
}


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One history entry."""

    change: ConfigChange
    who: str
    channel_label: str
    target_label: str
    before_json: str
    after_json: str
    can_revert: bool
    reverted_by: tuple[int, ...]
    error: str = ""
    note: str = ""

    @property
    def dom_id(self) -> str:
        """The row's element id."""
        return f"change-{self.change.pk}"


def pretty_json(value: Any) -> str:
    """Indented, key-sorted JSON, or "—" for nothing (a create has no before)."""
    if value is None:
        return "—"
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)


def change_rows(
    changes: Iterable[ConfigChange],
    *,
    permissions: Iterable[str] = (),
    errors: Mapping[int, str] | None = None,
) -> list[ChangeRow]:
    """History rows; `permissions` (the user's) decide where a Revert button shows.

    `errors` maps a change id to why reverting it just failed, shown on its row.
    """
    allowed = set(permissions)
    errors = errors or {}
    rows: list[ChangeRow] = []
    for change in changes:
        who = change.user.get_username() if change.user else ""
        rows.append(
            ChangeRow(
                change=change,
                who=who,
                channel_label=CHANNEL_LABELS.get(change.channel, change.channel),
                target_label=TARGET_LABELS.get(change.target_type, change.target_type),
                before_json=pretty_json(change.before),
                after_json=pretty_json(change.after),
                can_revert=change.target_type in REVERTIBLE_TARGETS
                and REVERT_PERMISSIONS.get(change.target_type, "") in allowed
                and not (
                    change.action == ConfigChange.Action.CREATE
                    and change.target_name in BUILTIN_NAMES.get(change.target_type, ())
                ),
                reverted_by=tuple(r.pk for r in change.reverted_by.all()),
                error=errors.get(change.pk, ""),
                note=NOT_REVERTABLE.get(change.target_type, ""),
            )
        )
    return rows


def ago(moment: datetime, *, now: datetime | None = None) -> str:
    """ "just now", "2 minutes ago", "3 days ago"."""
    now = now or timezone.now()
    if (now - moment).total_seconds() < 60:
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


def change_line(change: ConfigChange, *, now: datetime | None = None) -> str:
    """ "ada changed timeout 60.0 → 30.0 (2 minutes ago via Dashboard, #14)"."""
    who = change.user.get_username() if change.user else "someone"
    channel = CHANNEL_LABELS.get(change.channel, change.channel)
    when = ago(change.created_at, now=now)
    return f"{who} changed {change.summary} ({when} via {channel}, #{change.pk})"


@dataclass(frozen=True, slots=True)
class StaleNotice:
    """Why a save was refused: what changed since the form was opened, and by whom."""

    headline: str
    changes: tuple[str, ...]
    advice: str


def stale_notice(exc: StaleEdit) -> StaleNotice:
    """The message shown above a form whose save came from an old version."""
    target = TARGET_LABELS.get(exc.target_type, exc.target_type).lower()
    return StaleNotice(
        headline=f"Not saved: since you opened this, the {target} '{exc.target_name}' was "
        "changed by someone else.",
        changes=tuple(change_line(c) for c in exc.changes),
        advice="Your edits are still in the form; fields you had not touched now show the "
        "newer values. Review them, then save again to apply yours on top.",
    )


@dataclass(frozen=True, slots=True)
class RevertPlan:
    """The confirm step of a revert: what it will do, and which later changes it undoes."""

    change: ConfigChange
    explanation: str
    later: tuple[str, ...]
    version: int  # the object's version when this was shown; confirming checks it again
    moved: bool = False  # the object changed again while the confirmation was open


def revert_plan(
    change: ConfigChange, later: Sequence[ConfigChange], *, version: int, moved: bool = False
) -> RevertPlan:
    """Describe reverting `change` given the `later` changes to the same object."""
    return RevertPlan(
        change=change,
        explanation=describe_revert(change, list(later)),
        later=tuple(change_line(c) for c in later),
        version=version,
        moved=moved,
    )


# --- "Try it" and "Test connection" --------------------------------------------------


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """One attempt of a call, as shown under a result."""

    number: int
    route: str
    is_fallback: bool
    ok: bool
    error_kind: str
    error: str
    latency: str


@dataclass(frozen=True, slots=True)
class Slide:
    """One generated slide."""

    image_prompt: str
    narration: str


@dataclass(frozen=True, slots=True)
class TryResult:
    """What a "Try it" run produced, or why it failed."""

    ok: bool
    task: str
    message: str = ""
    route: str = ""
    fallback_used: bool = False
    latency: str = ""
    tokens: str = "unknown"
    cost: str = "unknown"
    text: str | None = None
    images: tuple[str, ...] = ()  # data: URIs
    slides: tuple[Slide, ...] = ()
    tool_calls: tuple[tuple[str, str], ...] = ()
    attempts: tuple[AttemptRow, ...] = ()


def format_ms(value: float | None) -> str:
    """Milliseconds for people: "840 ms", "2.3 s"."""
    if value is None:
        return "—"
    if value < 1000:
        return f"{value:.0f} ms"
    return f"{value / 1000:.1f} s"


def format_cost(value: Decimal | None) -> str:
    """Dollars with enough digits for a single call, or "unknown"."""
    if value is None:
        return "unknown"
    if value == 0:
        return "$0"
    if value < Decimal("0.01"):
        return f"${value:.6f}".rstrip("0")
    return f"${value:.4f}"


def format_tokens(input_tokens: int | None, output_tokens: int | None) -> str:
    """ "12 in · 30 out", or "unknown" when the provider did not say."""
    if input_tokens is None and output_tokens is None:
        return "unknown"

    def count(n: int | None) -> str:
        return "?" if n is None else f"{n:,}"

    return f"{count(input_tokens)} in · {count(output_tokens)} out"


def _public_attempt(attempt: Any) -> tuple[str, str]:
    """An attempt's (kind, error) in plain words, never the body of whatever answered."""
    if not attempt.error:
        return attempt.error_kind or "", ""
    return public_error(kind=attempt.error_kind or "", message=attempt.error)


def attempt_rows(attempts: Iterable[Any]) -> tuple[AttemptRow, ...]:
    """Attempts (duck-typed `calls.Attempt`) as rows."""
    return tuple(
        AttemptRow(
            number=a.attempt,
            route=f"{a.provider}/{a.model}",
            is_fallback=a.is_fallback,
            ok=a.outcome == "success",
            error_kind=_public_attempt(a)[0],
            error=_public_attempt(a)[1],
            # A failure's timing tells a refused port from a filtered one: not shown.
            latency=format_ms(a.latency_ms) if a.outcome == "success" else "",
        )
        for a in attempts
    )


def try_result(run: Any) -> TryResult:
    """A successful `calls.TaskRun` as the result panel shows it."""
    images = tuple(
        f"data:{getattr(i, 'mime_type', '') or 'image/png'};base64,"
        + base64.b64encode(i.data).decode("ascii")
        for i in (run.images or ())
        if getattr(i, "data", None)
    )
    slides = tuple(Slide(s.image_prompt, s.narration) for s in (run.slides or ()))
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
        latency=format_ms(run.latency_ms),
        tokens=format_tokens(run.input_tokens, run.output_tokens),
        cost=format_cost(run.cost_usd),
        text=run.text,
        images=images,
        slides=slides,
        tool_calls=tool_calls,
        attempts=attempt_rows(run.attempts),
    )


def try_failure(task: str, message: str, attempts: Iterable[Any] = ()) -> TryResult:
    """A failed run: the message in words and every attempt that was made."""
    rows = attempt_rows(attempts)
    if rows:
        # TaskFailed's message lists each attempt after its first line; the attempt
        # rows show them already, so keep only the headline.
        message = message.splitlines()[0].rstrip(":") + "."
    return TryResult(ok=False, task=task, message=message, attempts=rows)


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    """What "Test connection" found."""

    ok: bool
    provider: str
    message: str
    latency: str = ""
    model_count: int = 0
    models: tuple[str, ...] = ()


def connection_result(provider: str, check: Any) -> ConnectionResult:
    """A `calls.ConnectionCheck` (duck-typed) as shown on the provider card."""
    models = tuple(check.models or ())
    return ConnectionResult(
        ok=bool(check.ok),
        provider=provider,
        message=check.message,
        # How long a failure took tells refused from filtered ports apart: not shown.
        latency=format_ms(check.latency_ms) if check.ok else "",
        model_count=len(models),
        models=models[:12],
    )


# --- usage ------------------------------------------------------------------------------

USAGE_COLUMNS = (
    "task",
    "provider",
    "model",
    "calls",
    "errors",
    "fallbacks",
    "input_tokens",
    "output_tokens",
    "images",
    "cost_usd",
    "unpriced_calls",
    "p50_latency_ms",
    "p95_latency_ms",
)


def usage_record(row: UsageRow) -> dict[str, Any]:
    """A usage row as plain values for JSON and CSV (cost as a decimal string, never a float)."""
    values = {name: getattr(row, name) for name in USAGE_COLUMNS}
    values["cost_usd"] = format_usd(row.cost_usd)
    for key in ("p50_latency_ms", "p95_latency_ms"):
        if values[key] is not None:
            values[key] = round(values[key], 1)
    return values


@dataclass(frozen=True, slots=True)
class UsageLine:
    """One task/provider/model row of the Usage table."""

    task: str
    route: str
    calls: int
    errors: int
    fallbacks: int
    tokens: str
    images: int
    cost: str
    p50: str
    p95: str


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the calls chart, with its geometry in the SVG's coordinates."""

    label: str
    title: str
    x: float
    width: float
    ok_y: float
    ok_height: float
    error_y: float
    error_height: float
    show_label: bool
    label_x: float
    label_anchor: str


@dataclass(frozen=True, slots=True)
class FailureLine:
    """A recent failed attempt."""

    when: Any
    task: str
    route: str
    kind: str
    message: str


@dataclass(frozen=True, slots=True)
class UsageView:
    """Everything the Usage page shows."""

    calls: int
    errors: int
    error_rate: str
    fallbacks: int
    cost: str
    unpriced: int
    lines: tuple[UsageLine, ...]
    bars: tuple[DayBar, ...]
    chart_label: str
    failures: tuple[FailureLine, ...]


def _usage_volume(row: UsageRow) -> str:
    """Tokens in / out, and images when there are any."""
    parts = []
    if row.input_tokens or row.output_tokens:
        parts.append(f"{row.input_tokens:,} / {row.output_tokens:,}")
    if row.images:
        parts.append(f"{row.images} image{'s' if row.images != 1 else ''}")
    return " · ".join(parts) or "—"


CHART_WIDTH = 720.0
CHART_HEIGHT = 140.0
# Half the width of a day label ("Nov 26" at the chart's 11px) in SVG units: a label
# centred closer than this to an edge is anchored to that edge instead of being cut.
LABEL_HALF_WIDTH = 22.0


def _bars(days: Sequence[DailyUsage]) -> tuple[DayBar, ...]:
    if not days:
        return ()
    peak = max((d.calls for d in days), default=0) or 1
    slot = CHART_WIDTH / len(days)
    width = max(2.0, slot * 0.7)
    every = max(1, round(len(days) / 8))
    last = len(days) - 1
    bars = []
    for index, day in enumerate(days):
        total = CHART_HEIGHT * day.calls / peak
        failed = CHART_HEIGHT * day.errors / peak
        x = index * slot + (slot - width) / 2
        # Labels centre under their bar, except near an edge, where they line up with it.
        centre = index * slot + slot / 2
        if centre + LABEL_HALF_WIDTH > CHART_WIDTH:
            label_x, anchor = CHART_WIDTH, "end"
        elif centre - LABEL_HALF_WIDTH < 0:
            label_x, anchor = 0.0, "start"
        else:
            label_x, anchor = centre, "middle"
        bars.append(
            DayBar(
                label=day.day.strftime("%b %-d"),
                title=f"{day.day:%a %b %-d}: {day.calls} attempts, {day.errors} failed, "
                f"{day.fallbacks} fallbacks, {format_cost(day.cost_usd)}",
                x=round(x, 2),
                width=round(width, 2),
                ok_y=round(CHART_HEIGHT - total, 2),
                ok_height=round(total - failed, 2),
                error_y=round(CHART_HEIGHT - failed, 2),
                error_height=round(failed, 2),
                # Counted back from today, so today is always labelled and the spacing
                # stays even (counting from the start put two labels on top of each other).
                show_label=(last - index) % every == 0,
                label_x=round(label_x, 2),
                label_anchor=anchor,
            )
        )
    return tuple(bars)


def usage_view(
    rows: Sequence[UsageRow], days: Sequence[DailyUsage], failures: Sequence[Any]
) -> UsageView:
    """The Usage page: totals, the per-day chart, the per-model table, recent failures."""
    calls = sum(r.calls for r in rows)
    errors = sum(r.errors for r in rows)
    priced = [r.cost_usd for r in rows if r.cost_usd is not None]
    cost = sum(priced, Decimal(0)) if priced else None
    lines = tuple(
        UsageLine(
            task=r.task,
            route=f"{r.provider}/{r.model}",
            calls=r.calls,
            errors=r.errors,
            fallbacks=r.fallbacks,
            tokens=_usage_volume(r),
            images=r.images,
            cost=format_cost(r.cost_usd) + (" + unpriced" if r.unpriced_calls and priced else ""),
            p50=format_ms(r.p50_latency_ms),
            p95=format_ms(r.p95_latency_ms),
        )
        for r in rows
    )
    total_days = sum(d.calls for d in days)
    return UsageView(
        calls=calls,
        errors=errors,
        error_rate=f"{100 * errors / calls:.1f}%" if calls else "—",
        fallbacks=sum(r.fallbacks for r in rows),
        cost=format_cost(cost),
        unpriced=sum(r.unpriced_calls for r in rows),
        lines=lines,
        bars=_bars(days),
        chart_label=f"Attempts per day over {len(days)} days: {total_days} in all, "
        f"{sum(d.errors for d in days)} failed.",
        failures=tuple(
            FailureLine(
                when=f.created_at,
                task=f.task,
                route=f"{f.provider}/{f.model}",
                kind=f.error_kind,
                message=f.error_message,
            )
            for f in failures
        ),
    )
