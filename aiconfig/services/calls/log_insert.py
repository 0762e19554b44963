"""Inserting call-log rows together with their usage rollup, in one transaction.

The rollup (`aiconfig.services.rollup_write.add_to_rollup`) is written in the same
transaction as the rows it sums, on PostgreSQL in the same statement, so the two
never drift: both are written or neither. `aiconfig.services.calls.log` decides
when and through which connection; this module only writes.

Every call goes through here, so the statements are built once per shape and the
values are prepared without the ORM's per-field layers where a value is already what
the driver takes (a str for a text column, an int for an integer one...). On SQLite
the transaction is a plain `BEGIN IMMEDIATE` ... `COMMIT` on the driver's connection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from django.db import Error as DatabaseFailure  # DatabaseError and InterfaceError alike
from django.db import models

from aiconfig.log_row import RowValues
from aiconfig.models import CallLog
from aiconfig.services.calls.log_connections import log_connection
from aiconfig.services.rollup_write import add_to_rollup

_LOG_FIELDS = tuple(f for f in CallLog._meta.concrete_fields if not f.primary_key)
# Column types whose value, when it already has the plain Python type named here, is
# passed to the driver unchanged by the ORM too (`get_db_prep_save` is the identity).
# Text columns take any str (a TextChoices member included, as the ORM passes it);
# the others exactly that type (a bool is not an int to PostgreSQL).
_PLAIN: tuple[tuple[type[models.Field], type], ...] = (
    (models.BooleanField, bool),
    (models.FloatField, float),
    (models.IntegerField, int),
    (models.ForeignKey, int),
    (models.CharField, str),
    (models.TextField, str),
)


def _plain_type(field: models.Field, vendor: str) -> type | None:
    for kind, plain in _PLAIN:
        if isinstance(field, kind):
            # PostgreSQL's backend wraps integers in typed wrappers (Int2, Int4...).
            return None if vendor == "postgresql" and plain is int else plain
    return None


_prepare_cache: dict[str, tuple[tuple[str, type | None, Any], ...]] = {}


def _preparation(vendor: str) -> tuple[tuple[str, type | None, Any], ...]:
    """Per column: its attribute, the plain type passed as is, the ORM's preparation."""
    found = _prepare_cache.get(vendor)
    if found is None:
        found = _prepare_cache[vendor] = tuple(
            (field.attname, _plain_type(field, vendor), field.get_db_prep_save)
            for field in _LOG_FIELDS
        )
    return found


_sql_cache: dict[tuple[str, int], str] = {}


def insert_call_log(rows: Sequence[RowValues], *, using: Any = None) -> None:
    """Insert call-log rows and add them to the usage rollup, in one transaction.

    On `using`, a connection (default: the log's). The rollup is updated in the same
    transaction as the insert so the two never drift: both are written or neither.
    """
    if not rows:
        return
    connection = using if using is not None else log_connection()
    if connection.vendor == "postgresql":
        # One statement (the insert as a data-modifying WITH): atomic on its own.
        add_to_rollup(rows, connection=connection, with_statement=_insert_sql(rows, connection))
        return
    if not connection.get_autocommit():
        # Already inside a transaction (a test's): it commits or rolls back both.
        _insert_rows(rows, connection)
        add_to_rollup(rows, connection=connection)
        return
    connection.ensure_connection()
    driver = connection.connection
    with connection.wrap_database_errors:
        driver.execute("BEGIN IMMEDIATE")  # the write lock first, as Django's own atomic
    try:
        _insert_rows(rows, connection)
        add_to_rollup(rows, connection=connection)
        with connection.wrap_database_errors:
            driver.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(DatabaseFailure, Exception):
            if driver.in_transaction:
                driver.execute("ROLLBACK")
        raise


def _insert_rows(rows: Sequence[RowValues], connection: Any) -> None:
    """Insert call-log rows: one statement, or on SQLite the one-row statement per row.

    SQLite runs a multi-row `VALUES` about three times slower than the same rows
    through `executemany` of its one-row statement (0.093 against 0.025 ms for a
    failover's two rows), so there the driver gets the rows one by one.
    """
    if connection.vendor == "sqlite":
        connection.ensure_connection()
        with connection.wrap_database_errors:
            connection.connection.executemany(
                _insert_statement(1, connection), [_values(row, connection) for row in rows]
            )
        return
    sql, params = _insert_sql(rows, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_sql(rows: Sequence[RowValues], connection: Any) -> tuple[str, list[Any]]:
    """The one INSERT of call-log rows (`%s` style), and its values, row after row."""
    return _insert_statement(len(rows), connection), [
        value for row in rows for value in _values(row, connection)
    ]


def _insert_statement(count: int, connection: Any) -> str:
    """The INSERT of `count` call-log rows, built once per row count and backend.

    This is on every call's path: `bulk_create` spends ~0.2 ms compiling SQL and
    opening a transaction for a single row, five times the insert itself. On SQLite
    it is in the driver's own `?` style, so no query is rewritten per call.
    """
    cache_key = (connection.vendor, count)
    sql = _sql_cache.get(cache_key)
    if sql is None:
        quote = connection.ops.quote_name
        mark = "?" if connection.vendor == "sqlite" else "%s"
        columns = ", ".join(quote(f.column) for f in _LOG_FIELDS)
        one_row = "(" + ", ".join([mark] * len(_LOG_FIELDS)) + ")"
        sql = _sql_cache[cache_key] = (
            f"INSERT INTO {quote(CallLog._meta.db_table)} ({columns}) "
            f"VALUES {', '.join([one_row] * count)}"
        )
    return sql


def _values(row: RowValues, connection: Any) -> list[Any]:
    """One row's values in column order, as the ORM would send them.

    Values that are not plain go through their field's own database preparation, so
    types come out as the ORM would write them on any backend.
    """
    values = []
    for attname, plain, prepare in _preparation(connection.vendor):
        value = getattr(row, attname)
        if not (value is None or type(value) is plain or (plain is str and isinstance(value, str))):
            value = prepare(value, connection)
        values.append(value)
    return values


def orm_values(rows: Sequence[RowValues], connection: Any) -> list[Any]:
    """The values the ORM itself would send for `rows` (what `_insert_sql` must match)."""
    return [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _LOG_FIELDS
    ]
