"""Sums of the usage rollup (hourly, or one of its tables of daily sums), in plain SQL.

Shared by `usage_summary` and the Usage page's groups. The ORM spent longer compiling
a grouped read of the latency histogram (174 `Sum`s, each hashed to build the GROUP
BY) than the database took to run it, so these statements are written here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connections, router
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from aiconfig.latency import BUCKET_COLUMNS


@dataclass(frozen=True, slots=True)
class RollupPart:
    """The rows of the hourly rollup (`column` "hour") or of a table of daily sums
    (`column` "day") within [low, high); `low` None: from the first."""

    model: Any
    column: str
    low: Any
    high: Any


def utc_day_sql(vendor: str, column: str = "hour") -> str | None:
    """SQL for the UTC day of a timestamp column, as a date (PostgreSQL) or its text (SQLite).

    On SQLite, Django stores UTC text 'YYYY-MM-DD HH:MM:SS': its first 10 characters
    (TruncDate would call a Python function once per row). None elsewhere.
    """
    if vendor == "postgresql":
        return f"CAST({column} AT TIME ZONE 'UTC' AS date)"
    if vendor == "sqlite":
        return f"SUBSTR({column}, 1, 10)"
    return None


def summed_rows(
    part: RollupPart, *, by: Sequence[str], columns: Sequence[str], task: str | None
) -> list[tuple[Any, ...]]:
    """`by`'s values then each of `columns` summed (ints), per group of the part's rows.

    A day may come back as text ('YYYY-MM-DD', SQLite) or a date. Grouped by hour, or
    an hourly part by a local day other than UTC's, it goes through the ORM, which
    converts both.
    """
    if task and not _has_task(part.model):
        # SQLite would read an unknown "task" as a string literal and match nothing.
        raise ValueError(f"{part.model.__name__} has no task to filter by.")
    connection = connections[router.db_for_read(part.model)]
    quote = connection.ops.quote_name
    by_day = "day" in by and part.column == "hour"
    day = utc_day_sql(connection.vendor, quote("hour"))
    if "hour" in by or (by_day and (day is None or timezone.get_current_timezone_name() != "UTC")):
        return _summed_rows_orm(part, by=by, columns=columns, task=task)
    keys = [day if name == "day" and by_day else quote(name) for name in by]
    field = part.model._meta.get_field(part.column)
    where, params = [], []
    for operator, bound in ((">=", part.low), ("<", part.high)):
        if bound is not None:
            where.append(f"{quote(part.column)} {operator} %s")
            params.append(field.get_db_prep_value(bound, connection))
    if task:
        where.append(f"{quote('task')} = %s")
        params.append(task)
    sql = (
        f"SELECT {', '.join([*keys, *(f'SUM({quote(c)})' for c in columns)])} "
        f"FROM {quote(part.model._meta.db_table)}"
        + (f" WHERE {' AND '.join(where)}" if where else "")
        + (f" GROUP BY {', '.join(str(n + 1) for n in range(len(keys)))}" if keys else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not keys and rows and rows[0][0] is None:
        return []  # the sums of no rows at all
    if connection.vendor == "sqlite":
        return rows  # SQLite sums integers as integers (the columns are never NULL)
    width = len(keys)  # PostgreSQL sums bigints as numeric (Decimal)
    return [(*row[:width], *(int(v or 0) for v in row[width:])) for row in rows]


def occupied_span(buckets: Sequence[int] | None) -> tuple[int, int] | None:
    """The latency buckets [first, last + 1) holding any count (None: none do)."""
    held = [k for k, count in enumerate(buckets or ()) if count]
    return (held[0], held[-1] + 1) if held else None


def summed_rows_with_histogram(
    part: RollupPart,
    *,
    by: Sequence[str],
    counters: Sequence[str],
    task: str | None,
    span: tuple[int, int] | None,
) -> list[tuple[Any, ...]]:
    """`summed_rows` of `counters` (among them "attempts") and every latency bucket.

    `span`: the buckets the period's whole histogram holds counts in (`occupied_span`);
    no group can hold any outside them, so only those columns are summed (about half
    of the 161, and half the time) and the others come back as zeros. Every attempt
    is in one bucket: a row whose buckets do not add up to its attempts (a call
    logged since the span was read, outside it) has the part read again in full.
    """
    if span is None:
        return summed_rows(part, by=by, columns=(*counters, *BUCKET_COLUMNS), task=task)
    low, high = span
    rows = summed_rows(part, by=by, columns=(*counters, *BUCKET_COLUMNS[low:high]), task=task)
    width = len(by) + len(counters)
    attempts = len(by) + list(counters).index("attempts")
    if any(sum(row[width:]) != row[attempts] for row in rows):
        return summed_rows(part, by=by, columns=(*counters, *BUCKET_COLUMNS), task=task)
    below, above = (0,) * low, (0,) * (len(BUCKET_COLUMNS) - high)
    return [(*row[:width], *below, *row[width:], *above) for row in rows]


def _has_task(model: Any) -> bool:
    return any(f.name == "task" for f in model._meta.concrete_fields)


def _summed_rows_orm(
    part: RollupPart, *, by: Sequence[str], columns: Sequence[str], task: str | None
) -> list[tuple[Any, ...]]:
    rows = part.model.objects.filter(**{f"{part.column}__lt": part.high})
    if part.low is not None:
        rows = rows.filter(**{f"{part.column}__gte": part.low})
    if task:
        rows = rows.filter(task=task)
    if "day" in by:
        rows = rows.annotate(day=TruncDate("hour", tzinfo=timezone.get_current_timezone()))
    sums = rows.values(*by).annotate(**{c: Sum(c) for c in columns}).order_by()
    return [(*(row[name] for name in by), *(row[c] or 0 for c in columns)) for row in sums]
