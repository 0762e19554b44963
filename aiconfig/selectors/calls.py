"""Reads for the call explorer: calls (attempts folded by `request_id`), one page at a time.

A call is listed when one of its attempts matches every filter; its line shows the whole
call. Pages are cut by keyset, never OFFSET or COUNT(*): each call sits at its *anchor*,
its newest matching attempt by `(created_at, id)`, and a page is the calls whose anchors
come right before (Older) or after (Newer) a cursor anchor. Anchors are unique and
totally ordered, so walking the pages shows every call exactly once, even when many
attempts share a timestamp.

The scan walks matching attempts in time order through an index (which index serves
which filter: see README "Call explorer"), a batch at a time, until the page is full;
the first page at 10M rows reads a hundred index entries, not the table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from aiconfig.enums import CallOutcome
from aiconfig.models import CallLog

PAGE_SIZE = 50
# (created_at, id): where an attempt sits in the log's order.
Position = tuple[datetime, int]


@dataclass(frozen=True, slots=True)
class CallFilters:
    """What the explorer's list is narrowed to; blank or None means "any"."""

    task: str = ""
    provider: str = ""
    model: str = ""
    outcome: str = ""
    source: str = ""
    user_id: int | None = None
    since: datetime | None = None
    until: datetime | None = None  # exclusive


@dataclass(frozen=True, slots=True)
class CallSummary:
    """One call: its attempts folded into what a person asks first."""

    request_id: uuid.UUID
    anchor_id: int
    when: datetime
    task: str
    operation: str
    provider: str  # who answered, or the last one tried
    model: str
    attempts: int
    fallback: bool  # answered (or last tried) by a fallback route
    outcome: str  # the last attempt's outcome: the call's, as the caller saw it
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    source: str
    user: str


@dataclass(frozen=True, slots=True)
class CallPage:
    """A page of calls, newest first, and the cursors of the pages around it."""

    calls: list[CallSummary]
    newer: int | None  # `after=` for the Newer link (an anchor's id), or None
    older: int | None  # `before=` for the Older link, or None


def matching_attempts(*, filters: CallFilters) -> QuerySet[CallLog]:
    """Every attempt that matches `filters` (unordered)."""
    rows = CallLog.objects.all()
    exact = {
        "task": filters.task,
        "provider": filters.provider,
        "model": filters.model,
        "outcome": filters.outcome,
        "source": filters.source,
    }
    rows = rows.filter(**{name: value for name, value in exact.items() if value})
    if filters.user_id is not None:
        rows = rows.filter(user_id=filters.user_id)
    if filters.since is not None:
        rows = rows.filter(created_at__gte=filters.since)
    if filters.until is not None:
        rows = rows.filter(created_at__lt=filters.until)
    return rows


def user_id_named(*, username: str) -> int | None:
    """The id of the user called `username`, or None when there is none."""
    return get_user_model().objects.filter(username=username).values_list("pk", flat=True).first()


def cursor_position(*, attempt_id: int) -> Position | None:
    """Where the attempt `attempt_id` sits, or None when it is gone (pruned)."""
    return CallLog.objects.filter(pk=attempt_id).values_list("created_at", "id").first()


def _beyond(rows: QuerySet[CallLog], position: Position, *, older: bool) -> QuerySet[CallLog]:
    """Rows strictly before (older) or after `position`.

    Written as a range on `created_at` minus the ties on the wrong side of `id`, rather
    than `(a < x) OR (a = x AND id < y)`: a plain range walks the time index in order.
    """
    at, pk = position
    if older:
        return rows.filter(created_at__lte=at).exclude(created_at=at, id__gte=pk)
    return rows.filter(created_at__gte=at).exclude(created_at=at, id__lte=pk)


def _scan(
    rows: QuerySet[CallLog], start: Position | None, *, older: bool, batch: int
) -> Iterator[tuple[uuid.UUID, Position]]:
    """Matching attempts from `start` on, in order, fetched `batch` at a time by keyset."""
    order = ("-created_at", "-id") if older else ("created_at", "id")
    position = start
    while True:
        page = rows if position is None else _beyond(rows, position, older=older)
        found = list(page.order_by(*order).values_list("request_id", "created_at", "id")[:batch])
        for request_id, at, pk in found:
            yield request_id, (at, pk)
        if len(found) < batch:
            return
        position = (found[-1][1], found[-1][2])


def _anchors(rows: QuerySet[CallLog], request_ids: list[uuid.UUID]) -> dict[uuid.UUID, Position]:
    """Each call's newest matching attempt."""
    anchors: dict[uuid.UUID, Position] = {}
    for request_id, at, pk in rows.filter(request_id__in=request_ids).values_list(
        "request_id", "created_at", "id"
    ):
        if request_id not in anchors or (at, pk) > anchors[request_id]:
            anchors[request_id] = (at, pk)
    return anchors


def call_page(
    *,
    filters: CallFilters,
    before: Position | None = None,
    after: Position | None = None,
    size: int = PAGE_SIZE,
) -> CallPage:
    """The calls (newest first) whose anchors come just before `before`, or just after `after`.

    Neither: the newest calls. Three to a few queries, each reading about `size` index
    entries, whatever the size of the log.
    """
    rows = matching_attempts(filters=filters)
    older = after is None
    start = after if after is not None else before
    seen: set[uuid.UUID] = set()
    fresh: list[uuid.UUID] = []
    anchors: dict[uuid.UUID, Position] = {}
    final: list[Position] = []  # anchors certain to be the nearest ones to `start`
    exhausted = True
    for request_id, position in _scan(rows, start, older=older, batch=2 * size):
        if request_id not in seen:
            seen.add(request_id)
            fresh.append(request_id)
        if len(fresh) < size + 1:
            continue
        anchors.update(_anchors(rows, fresh))
        fresh = []
        final = _settled(anchors, start, position, older=older)
        if len(final) > size:
            exhausted = False
            break
    else:
        if fresh:
            anchors.update(_anchors(rows, fresh))
        final = _settled(anchors, start, None, older=older)
    final.sort(reverse=older)
    shown = final[:size]
    more = not exhausted or len(final) > size
    shown.sort(reverse=True)
    by_anchor = {anchor: request_id for request_id, anchor in anchors.items()}
    calls = _fold([by_anchor[anchor] for anchor in shown], anchors)
    if not calls:
        return CallPage(calls=[], newer=None, older=None)
    if older:
        return CallPage(
            calls=calls,
            newer=calls[0].anchor_id if before is not None else None,
            older=calls[-1].anchor_id if more else None,
        )
    return CallPage(
        calls=calls, newer=calls[0].anchor_id if more else None, older=calls[-1].anchor_id
    )


def _settled(
    anchors: dict[uuid.UUID, Position],
    start: Position | None,
    scanned_to: Position | None,
    *,
    older: bool,
) -> list[Position]:
    """Anchors that belong on this side of `start` and that no unscanned call can precede.

    Walking back in time, a call seen in the scan whose newest matching attempt is at or
    after `start` was shown on a newer page: it is left out. Walking forward, a call's
    anchor may lie beyond the scan so far; it is settled only once the scan has passed it.
    """
    if older:
        return [a for a in anchors.values() if start is None or a < start]
    return [a for a in anchors.values() if scanned_to is None or a <= scanned_to]


def _fold(request_ids: list[uuid.UUID], anchors: dict[uuid.UUID, Position]) -> list[CallSummary]:
    """Every attempt of each call (not only the matching ones), folded into one line."""
    attempts: dict[uuid.UUID, list[Any]] = {request_id: [] for request_id in request_ids}
    rows = (
        CallLog.objects.filter(request_id__in=request_ids)
        .order_by("attempt", "id")
        .values(
            "request_id", "created_at", "task", "operation", "provider", "model", "attempt",
            "is_fallback", "outcome", "latency_ms", "input_tokens", "output_tokens",
            "cost_usd", "source", "user__username",
        )
    )  # fmt: skip
    for row in rows:
        attempts[row["request_id"]].append(row)
    return [
        _summary(request_id, anchors[request_id][1], attempts[request_id])
        for request_id in request_ids
    ]


def _total(values: list[Any]) -> Any:
    known = [value for value in values if value is not None]
    return sum(known) if known else None


def _summary(request_id: uuid.UUID, anchor_id: int, rows: list[dict[str, Any]]) -> CallSummary:
    answered = next((r for r in rows if r["outcome"] == CallOutcome.SUCCESS), rows[-1])
    last = rows[-1]
    # Unknown, not $0, when the answer has no known price.
    unpriced = answered["outcome"] == CallOutcome.SUCCESS and answered["cost_usd"] is None
    cost = None if unpriced else _total([r["cost_usd"] for r in rows])
    return CallSummary(
        request_id=request_id,
        anchor_id=anchor_id,
        when=max(r["created_at"] for r in rows),
        task=last["task"],
        operation=last["operation"],
        provider=answered["provider"],
        model=answered["model"],
        attempts=len(rows),
        fallback=answered["is_fallback"],
        outcome=last["outcome"],
        latency_ms=sum(r["latency_ms"] for r in rows),
        input_tokens=_total([r["input_tokens"] for r in rows]),
        output_tokens=_total([r["output_tokens"] for r in rows]),
        cost_usd=cost,
        source=last["source"],
        user=last["user__username"] or "",
    )


def call_attempts(*, request_id: uuid.UUID) -> list[CallLog]:
    """Every attempt of one call, in order, with who made it."""
    return list(
        CallLog.objects.filter(request_id=request_id)
        .select_related("user")
        .order_by("attempt", "id")
    )


def attempts_for_export(*, filters: CallFilters, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Matching attempts, newest first, read `batch` at a time by keyset.

    Each batch is a short query of its own down the same index the list walks: no
    transaction held open for the length of a download, and no server-side cursor
    (on PostgreSQL, in autocommit, Django declares it `WITH HOLD`, which materialises
    the whole result before the first row is sent).
    """
    rows = matching_attempts(filters=filters).order_by("-created_at", "-id")
    columns = (*EXPORT_FIELDS, "id", "user__username")
    position: Position | None = None
    while True:
        page = rows if position is None else _beyond(rows, position, older=True)
        found = list(page.values(*columns)[:batch])
        yield from found
        if len(found) < batch:
            return
        position = (found[-1]["created_at"], found[-1]["id"])


EXPORT_FIELDS = (
    "request_id", "created_at", "task", "operation", "provider", "model", "response_model",
    "attempt", "is_fallback", "outcome", "error_kind", "error_message", "latency_ms",
    "input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
    "reasoning_tokens", "image_count", "cost_usd", "source", "api_token",
)  # fmt: skip
