"""The usage rollup: the call log summed per hour, kept up to date with every call.

What each call-log row adds (`_contribution`) is defined here; the live writes
(`aiconfig.services.rollup_write.add_to_rollup`, in the transaction that inserts the
rows) and `rebuild_rollup` (which recomputes the rollup from the call log after an
import, a restore, rows written some other way; in SQL, `rollup_sql`) both follow it,
so the rollup can never disagree with the log it sums. SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db import connections, router, transaction

from aiconfig.latency import BUCKET_COLUMNS, hour_of, latency_bucket
from aiconfig.models import CallLog, CallOutcome, UsageRollup
from aiconfig.selectors import last_prune_cutoff
from aiconfig.selectors.usage import is_last_attempt
from aiconfig.services import rollup_sql, usage_daily

KEY_FIELDS: tuple[str, ...] = (
    "hour",
    "task",
    "operation",
    "provider",
    "model",
    "outcome",
    "source",
    "user_id",
    "api_token",
)
SUM_FIELDS: tuple[str, ...] = (
    "attempts",
    "calls",
    "fallbacks",
    "errors",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "images",
    "cost_e8",
    "priced",
    "unpriced",
)
_FAILED = frozenset({CallOutcome.ERROR, CallOutcome.TIMED_OUT})
_E8 = Decimal(100_000_000)
_HOUR_FIELD = UsageRollup._meta.get_field("hour")


def cost_e8(cost: Decimal | None) -> int:
    """A cost in whole 1e-8 USD (the call log's precision); 0 when unknown."""
    return 0 if cost is None else int((cost * _E8).to_integral_value())


def _contribution(row: CallLog, *, ends_call: bool) -> tuple[tuple[Any, ...], tuple[int, ...], int]:
    """What one call-log row adds to the rollup: (key, sums, latency bucket).

    `ends_call`: the row is its call's last attempt, so its outcome is what the user got.
    """
    success = row.outcome == CallOutcome.SUCCESS
    failed = row.outcome in _FAILED
    key = (
        hour_of(row.created_at),
        row.task,
        row.operation,
        row.provider,
        row.model,
        row.outcome,
        row.source,
        row.user_id or 0,
        row.api_token or "",
    )
    sums = (
        1,
        1 if row.attempt == 1 else 0,
        1 if row.is_fallback else 0,
        1 if failed else 0,
        1 if failed and ends_call else 0,
        row.input_tokens or 0,
        row.output_tokens or 0,
        row.cache_read_tokens or 0,
        row.cache_write_tokens or 0,
        row.reasoning_tokens or 0,
        row.image_count or 0,
        cost_e8(row.cost_usd),
        1 if row.cost_usd is not None else 0,
        1 if success and row.cost_usd is None else 0,
    )
    return key, sums, latency_bucket(row.latency_ms)


def last_attempts(rows: Sequence[CallLog]) -> set[int]:
    """Positions in `rows` of each call's last attempt (its request's highest `attempt`).

    The rows of one call are always written together (`CallRecord.write`), so within
    a batch the highest attempt of a request is the one whose outcome the user got.
    """
    last: dict[Any, tuple[int, int]] = {}
    for position, row in enumerate(rows):
        seen = last.get(row.request_id)
        if seen is None or row.attempt > seen[0]:
            last[row.request_id] = (row.attempt, position)
    return {position for _, position in last.values()}


@dataclass
class _Totals:
    sums: list[int] = field(default_factory=lambda: [0] * len(SUM_FIELDS))
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_COLUMNS))


def summed(rows: Iterable[CallLog]) -> dict[tuple[Any, ...], _Totals]:
    """The rollup rows a set of call-log rows makes, keyed like the table.

    Every attempt of each call must be among `rows` (which attempt ended a call is
    read from them); `rebuild_rollup` asks the database instead.
    """
    listed = list(rows)
    ends = last_attempts(listed)
    return _summed((row, position in ends) for position, row in enumerate(listed))


def _summed(rows: Iterable[tuple[CallLog, bool]]) -> dict[tuple[Any, ...], _Totals]:
    totals: dict[tuple[Any, ...], _Totals] = {}
    for row, ends_call in rows:
        key, sums, bucket = _contribution(row, ends_call=ends_call)
        entry = totals.get(key)
        if entry is None:
            entry = totals[key] = _Totals()
        entry.sums = [a + b for a, b in zip(entry.sums, sums, strict=True)]
        entry.buckets[bucket] += 1
    return totals


_LOG_COLUMNS = (
    "request_id",
    "created_at",
    "task",
    "operation",
    "provider",
    "model",
    "outcome",
    "source",
    "user",
    "api_token",
    "attempt",
    "is_fallback",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "image_count",
    "cost_usd",
    "latency_ms",
)


def rebuild_start(*, since: dt.datetime | None) -> dt.datetime | None:
    """Where a rebuild from `since` really starts: never in the hours a prune emptied.

    Before the last prune's cutoff only the rollup knows what happened (that is why a
    prune keeps it); recomputing those hours from the log would erase them. The hour
    the cutoff falls in is kept too: the log holds only part of it.
    """
    start = hour_of(since) if since is not None else None
    cutoff = last_prune_cutoff()
    if cutoff is not None:
        first_whole = hour_of(cutoff) + dt.timedelta(hours=1)
        if start is None or start < first_whole:
            start = first_whole
    return start


def rebuild_rollup(
    *, since: dt.datetime | None = None, batch_size: int = 5000, in_sql: bool = True
) -> int:
    """Recompute the rollup from the call log (from the hour `since` falls in); rows written.

    Hours before the last prune are left as they are (see `rebuild_start`). The
    database groups the rows (`rollup_sql`) unless `in_sql` is false or a counter has
    no SQL yet; then they are summed here, row by row, with the live writes' arithmetic.

    One transaction: reports never see a half-built rollup, and calls logged meanwhile
    wait for it (their rows are then added on top, as usual).
    """
    alias = router.db_for_write(UsageRollup)
    in_sql = in_sql and rollup_sql.supported(KEY_FIELDS, SUM_FIELDS)
    start = rebuild_start(since=since)
    logs = CallLog.objects.using(alias).only(*_LOG_COLUMNS).order_by()
    old = UsageRollup.objects.using(alias)
    if start is not None:
        logs = logs.filter(created_at__gte=start)
        old = old.filter(hour__gte=start)
    with transaction.atomic(using=alias):
        old.delete()
        usage_daily.forget_days(since=start, using=alias)  # they sum the hours rebuilt here
        connection = transaction.get_connection(alias)
        if in_sql and connection.vendor in ("sqlite", "postgresql"):
            # Grouped by the database itself: seconds for millions of rows.
            return rollup_sql.insert_from_log(
                connection=connection, key_fields=KEY_FIELDS, sum_fields=SUM_FIELDS, start=start
            )
        rows = logs.annotate(ends_call=is_last_attempt()).iterator(chunk_size=batch_size)
        totals = _summed((row, row.ends_call) for row in rows)
        _insert_rollup_rows(totals, connection=connections[alias])
    return len(totals)


def _insert_rollup_rows(totals: dict[tuple[Any, ...], _Totals], *, connection: Any) -> None:
    """Insert whole rollup rows with one prepared statement (`executemany`).

    `bulk_create` compiles every one of a row's ~180 values through the ORM, which
    made a rebuild of 10,000 rows take a minute; the values here are plain ints and
    strings but the hour, which still goes through its field's preparation.
    """
    quote = connection.ops.quote_name
    names = [*KEY_FIELDS, *SUM_FIELDS, *BUCKET_COLUMNS]
    sql = (
        f"INSERT INTO {quote(UsageRollup._meta.db_table)} "
        f"({', '.join(quote(n) for n in names)}) VALUES ({', '.join(['%s'] * len(names))})"
    )
    rows = (
        [_HOUR_FIELD.get_db_prep_save(key[0], connection), *key[1:], *entry.sums, *entry.buckets]
        for key, entry in totals.items()
    )
    with connection.cursor() as cursor:
        batch: list[list[Any]] = []
        for row in rows:
            batch.append(row)
            if len(batch) == 1000:
                cursor.executemany(sql, batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
