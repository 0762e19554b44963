"""Adding a call's log rows to the usage rollup: one upsert statement per call.

This is on every call's path (`aiconfig.services.calls.log_insert`), so it is built
for speed while keeping `aiconfig.services.rollup`'s arithmetic (`_contribution`, the
same keys and counters): the rows of a call are merged per rollup key, and all keys go
in one multi-row `INSERT ... ON CONFLICT DO UPDATE` whose SQL is built once per shape
(backend, number of keys, histogram columns touched) and, on SQLite, already in the
driver's `?` style. Keys are sorted, so two calls upserting the same keys lock them in
the same order (no deadlock on PostgreSQL).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from aiconfig.latency import BUCKET_COLUMNS
from aiconfig.log_row import RowValues
from aiconfig.models import UsageRollup
from aiconfig.services.rollup import KEY_FIELDS, SUM_FIELDS, _contribution, last_attempts
from aiconfig.services.usage_daily import forget_statements, late_days

_HOUR_FIELD = UsageRollup._meta.get_field("hour")
_sql_cache: dict[tuple[str, int, tuple[int, ...]], str] = {}
_hour_cache: dict[str, tuple[Any, Any]] = {}


def _upsert_sql(vendor: str, quote: Any, keys: int, buckets: tuple[int, ...]) -> str:
    """The upsert adding `keys` rows of sums to the rollup (cached per shape)."""
    cache_key = (vendor, keys, buckets)
    sql = _sql_cache.get(cache_key)
    if sql is None:
        table = quote(UsageRollup._meta.db_table)
        added = [*SUM_FIELDS, *(BUCKET_COLUMNS[b] for b in buckets)]
        names = [*KEY_FIELDS, *added]
        mark = "%s" if vendor == "postgresql" else "?"
        one = "(" + ", ".join([mark] * len(names)) + ")"
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(n) for n in names)}) "
            f"VALUES {', '.join([one] * keys)} "
            f"ON CONFLICT ({', '.join(quote(n) for n in KEY_FIELDS)}) DO UPDATE SET "
            + ", ".join(f"{quote(n)} = {table}.{quote(n)} + excluded.{quote(n)}" for n in added)
        )
        _sql_cache[cache_key] = sql
    return sql


def _hour_value(hour: Any, connection: Any) -> Any:
    """The hour as the backend stores it; the last one is kept (it changes once an hour)."""
    cached = _hour_cache.get(connection.vendor)
    if cached is not None and cached[0] == hour:
        return cached[1]
    value = _HOUR_FIELD.get_db_prep_save(hour, connection)
    _hour_cache[connection.vendor] = (hour, value)
    return value


def rollup_upsert(
    rows: Sequence[RowValues], *, connection: Any
) -> tuple[str, list[Any], list[tuple[str, list[Any]]]]:
    """The one statement adding `rows` to the rollup, its parameters, and what must go first.

    On PostgreSQL in `%s` style, elsewhere (SQLite) in the driver's own `?` style.
    Rows of one call that share a key (two failed tries of the same model) are merged
    first: PostgreSQL refuses to change one row twice in a statement. What must go
    first (`%s` style): for rows older than a day, deleting their days' daily sums.
    """
    merged: dict[tuple[Any, ...], tuple[list[int], dict[int, int]]] = {}
    ends = last_attempts(rows)  # a call's rows come together: its last one is among them
    for position, row in enumerate(rows):
        key, sums, bucket = _contribution(row, ends_call=position in ends)
        entry = merged.get(key)
        if entry is None:
            merged[key] = (list(sums), {bucket: 1})
        else:
            entry[0][:] = [a + b for a, b in zip(entry[0], sums, strict=True)]
            entry[1][bucket] = entry[1].get(bucket, 0) + 1
    buckets = tuple(sorted({b for _, counts in merged.values() for b in counts}))
    params: list[Any] = []
    for key in sorted(merged, key=lambda k: tuple(str(part) for part in k)):
        sums, counts = merged[key]
        params.append(_hour_value(key[0], connection))
        params.extend(key[1:])
        params.extend(sums)
        params.extend(counts.get(b, 0) for b in buckets)
    sql = _upsert_sql(connection.vendor, connection.ops.quote_name, len(merged), buckets)
    late = late_days((key[0] for key in merged), now=time.time())
    return sql, params, forget_statements(late, connection=connection) if late else []


def add_to_rollup(
    rows: Sequence[RowValues],
    *,
    connection: Any,
    with_statement: tuple[str, list[Any]] | None = None,
) -> None:
    """Add call-log rows to the rollup on `connection`, inside the caller's transaction.

    `with_statement` (PostgreSQL: the call-log INSERT) is run in the same single
    statement, as a data-modifying `WITH`: atomic even in autocommit, one round trip
    instead of four (BEGIN, INSERT, upsert, COMMIT). On SQLite the upsert goes straight
    to the driver (`?` style, no query rewriting on every call).
    """
    sql, params, first = rollup_upsert(rows, connection=connection)
    if connection.vendor != "postgresql":
        connection.ensure_connection()
        with connection.wrap_database_errors:
            for first_sql, first_params in first:
                connection.connection.execute(first_sql.replace("%s", "?"), first_params)
            connection.connection.execute(sql, params)
        return
    before = [with_statement, *first] if with_statement is not None else first
    if before:
        sql = "WITH " + ", ".join(f"w{i} AS ({s})" for i, (s, _) in enumerate(before)) + f" {sql}"
        params = [*(p for _, ps in before for p in ps), *params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
