"""The Usage page's tables and totals: what each figure says, formatted for people.

Figures come from `aiconfig.selectors.usage_report` (rollup plus the partial hours at
the ends) and `usage_summary` (the per-route table, shared with `ai_usage`); the charts'
data is in `aiconfig.presenters.usage_charts`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.utils.http import urlencode

from adapters import Usage
from aiconfig.enums import Channel
from aiconfig.formatting import ms, usd
from aiconfig.pricing import call_cost
from aiconfig.selectors import UsageRow
from aiconfig.selectors.usage_report import Figures
from aiconfig.snapshots import ConfigSnapshot

CALLS_PATH = "/calls/"  # the call explorer (built on its own branch): a plain path, no {% url %}


def percent(part: int, whole: int) -> str:
    """ "3.2%" of a whole; "—" when there is nothing to divide."""
    return f"{100 * part / whole:.1f}%" if whole else "—"


def change(now: Decimal | int | None, before: Decimal | int | None) -> tuple[str, str]:
    """The change against the previous period in words, and a class for its direction.

    ("+12%", "up"), ("-5%", "down"), ("no change", "same"), ("new", "up") when there
    was nothing before, ("—", "same") when there is nothing either time.
    """
    now, before = now or 0, before or 0
    if not before:
        return ("new", "up") if now else ("—", "same")
    ratio = (Decimal(now) - Decimal(before)) / Decimal(before) * 100
    if abs(ratio) < Decimal("0.05"):
        return "no change", "same"
    sign = "+" if ratio > 0 else "-"
    return f"{sign}{abs(ratio):.1f}%", "up" if ratio > 0 else "down"


@dataclass(frozen=True, slots=True)
class Total:
    """One card of the totals: a figure, what it was the period before, and a note."""

    label: str
    value: str
    change: str
    direction: str  # up, down, same: for the arrow's colour
    bad_when_up: bool  # more cost or failures is bad, more calls is not
    note: str = ""


def totals(now: Figures, before: Figures, *, served_by_fallback: int) -> tuple[Total, ...]:
    """The period's totals with their change against the previous period of equal length."""

    def card(label: str, value: str, a: Any, b: Any, bad: bool, note: str = "") -> Total:
        text, direction = change(a, b)
        return Total(label, value, text, direction, bad, note)

    cost_note = f"+ {now.unpriced:,} unpriced" if now.unpriced else ""
    return (
        card("Cost", usd(now.cost_usd), now.cost_usd, before.cost_usd, True, cost_note),
        card("Calls", f"{now.calls:,}", now.calls, before.calls, False),
        card(
            "Calls failed for the user",
            f"{now.failed_calls:,}",
            now.failed_calls,
            before.failed_calls,
            True,
            f"{percent(now.failed_calls, now.calls)} of calls",
        ),
        card(
            "Attempts failed",
            f"{now.errors:,}",
            now.errors,
            before.errors,
            True,
            f"{percent(now.errors, now.attempts)} of {now.attempts:,} attempts",
        ),
        card(
            "Served by a fallback",
            f"{served_by_fallback:,}",
            served_by_fallback,
            None,
            False,
            "calls a fallback answered",
        ),
        card(
            "Tokens in / out",
            f"{now.input_tokens:,} / {now.output_tokens:,}",
            now.input_tokens + now.output_tokens,
            before.input_tokens + before.output_tokens,
            False,
        ),
        card(
            "p95 latency",
            ms(now.percentile(0.95)),
            None,
            None,
            True,
            f"p50 {ms(now.percentile(0.50))}",
        ),
    )


@dataclass(frozen=True, slots=True)
class BreakdownLine:
    """One row of a breakdown (by task, source, user or token)."""

    name: str
    calls: int
    attempts: int
    failure_rate: str
    failed_calls: int
    tokens: str
    cost: str
    share: str  # of the period's cost


def breakdown(
    groups: Mapping[Any, Figures], *, names: Mapping[Any, str], total_cost: Decimal | None
) -> tuple[BreakdownLine, ...]:
    """Breakdown rows, most expensive first (then most calls), named through `names`."""

    def order(item: tuple[Any, Figures]) -> tuple[int, int, str]:
        return (-item[1].cost_e8, -item[1].attempts, str(names.get(item[0], item[0])))

    lines = []
    for key, figures in sorted(groups.items(), key=order):
        cost = figures.cost_usd
        share = f"{100 * cost / total_cost:.1f}%" if cost is not None and total_cost else "—"
        lines.append(
            BreakdownLine(
                name=names.get(key, str(key)),
                calls=figures.calls,
                attempts=figures.attempts,
                failure_rate=percent(figures.errors, figures.attempts),
                failed_calls=figures.failed_calls,
                tokens=f"{figures.input_tokens:,} / {figures.output_tokens:,}",
                cost=usd(cost) + (" + unpriced" if figures.unpriced and cost else ""),
                share=share,
            )
        )
    return tuple(lines)


def source_names(keys: Sequence[str]) -> dict[str, str]:
    """How each call source reads: "Code", "CLI", "Dashboard", "Playground", "HTTP API"."""
    labels = dict(Channel.choices)
    return {key: f"{labels.get(key, key)} ({key})" for key in keys}


def user_labels(ids: Sequence[int], usernames: Mapping[int, str]) -> dict[int, str]:
    """Users by name; 0 is "no user" (code, the CLI, the gateway), a deleted one by id."""
    return {
        pk: "no user (code, CLI, API)" if not pk else usernames.get(pk, f"deleted user #{pk}")
        for pk in ids
    }


def token_labels(names: Sequence[str]) -> dict[str, str]:
    """Token names; '' is every call that did not come through the HTTP gateway."""
    return {name: name or "not through the gateway" for name in names}


@dataclass(frozen=True, slots=True)
class RouteLine:
    """One task/provider/model row of the main table, with a link to its calls."""

    task: str
    route: str
    attempts: int
    errors: int
    failure_rate: str
    failed_calls: int
    fallbacks: int
    tokens: str
    cost: str
    p50: str
    p95: str
    calls_url: str


def calls_url(*, row: UsageRow, since: datetime, until: datetime) -> str:
    """The call explorer filtered to the calls behind a row (a plain path, see CALLS_PATH)."""
    query = urlencode(
        {
            "task": row.task,
            "provider": row.provider,
            "model": row.model,
            "since": since.isoformat(timespec="seconds"),
            "until": until.isoformat(timespec="seconds"),
        }
    )
    return f"{CALLS_PATH}?{query}"


def route_lines(
    rows: Sequence[UsageRow], *, since: datetime, until: datetime
) -> tuple[RouteLine, ...]:
    """The per-task/provider/model table."""
    priced = any(r.cost_usd is not None for r in rows)
    lines = []
    for r in rows:
        parts = []
        if r.input_tokens or r.output_tokens:
            parts.append(f"{r.input_tokens:,} / {r.output_tokens:,}")
        if r.images:
            parts.append(f"{r.images} image{'s' if r.images != 1 else ''}")
        lines.append(
            RouteLine(
                task=r.task,
                route=f"{r.provider}/{r.model}",
                attempts=r.calls,
                errors=r.errors,
                failure_rate=percent(r.errors, r.calls),
                failed_calls=r.failed_calls,
                fallbacks=r.fallbacks,
                tokens=" · ".join(parts) or "—",
                cost=usd(r.cost_usd) + (" + unpriced" if r.unpriced_calls and priced else ""),
                p50=ms(r.p50_latency_ms),
                p95=ms(r.p95_latency_ms),
                calls_url=calls_url(row=r, since=since, until=until),
            )
        )
    return tuple(lines)


@dataclass(frozen=True, slots=True)
class Caching:
    """How much of the input came from the providers' prompt caches, and what that saved."""

    share: str
    read_tokens: int
    write_tokens: int
    saved: str
    note: str


def caching(groups: Mapping[tuple[str, str], Figures], snapshot: ConfigSnapshot) -> Caching:
    """Cached share of input tokens, and the saving at today's prices per model.

    The saving is what the same input would cost uncached minus what it cost with
    cache reads (cheaper) and writes (dearer), priced as each call is priced; models
    without a known price are left out, and said so.
    """
    read = sum(f.cache_read_tokens for f in groups.values())
    write = sum(f.cache_write_tokens for f in groups.values())
    total_in = sum(f.input_tokens for f in groups.values())
    saved = Decimal(0)
    unknown = 0
    for (provider, model), f in groups.items():
        if not f.cache_read_tokens and not f.cache_write_tokens:
            continue
        info = snapshot.providers.get(provider)
        if info is None:
            unknown += 1
            continue
        plain = Usage(input_tokens=f.input_tokens, output_tokens=0)
        cached = Usage(
            input_tokens=f.input_tokens,
            output_tokens=0,
            cache_read_tokens=f.cache_read_tokens,
            cache_write_tokens=f.cache_write_tokens,
        )
        without = call_cost(provider=info, model=model, usage=plain, prices=snapshot.prices)
        with_cache = call_cost(provider=info, model=model, usage=cached, prices=snapshot.prices)
        if without is None or with_cache is None:
            unknown += 1
            continue
        saved += without - with_cache
    note = (
        f"{unknown} model{'s' if unknown != 1 else ''} without a price left out" if unknown else ""
    )
    return Caching(
        share=percent(read, total_in),
        read_tokens=read,
        write_tokens=write,
        saved=usd(saved) if read or write else "—",
        note=note,
    )
