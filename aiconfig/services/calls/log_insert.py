"""Inserting call-log rows together with their usage rollup, in one transaction.

The rollup (`aiconfig.services.rollup.add_to_rollup`) is written in the same
transaction as the rows it sums, on PostgreSQL in the same statement, so the two
never drift: both are written or neither. `aiconfig.services.calls.log` decides
when and through which connection; this module only writes.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from django.db import Error as DatabaseFailure  # DatabaseError and InterfaceError alike

from aiconfig.models import CallLog
from aiconfig.services.calls.log_connections import log_connection
from aiconfig.services.rollup import add_to_rollup

_LOG_FIELDS = tuple(f for f in CallLog._meta.concrete_fields if not f.primary_key)


def insert_call_log(rows: Sequence[CallLog], *, using: Any = None) -> None:
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
    connection.set_autocommit(False)
    try:
        _insert_rows(rows, connection)
        add_to_rollup(rows, connection=connection)
        connection.commit()
    except BaseException:
        with contextlib.suppress(DatabaseFailure):
            connection.rollback()
        raise
    finally:
        with contextlib.suppress(DatabaseFailure):
            connection.set_autocommit(True)


def _insert_rows(rows: Sequence[CallLog], connection: Any) -> None:
    """Insert call-log rows with one statement."""
    sql, params = _insert_sql(rows, connection)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _insert_sql(rows: Sequence[CallLog], connection: Any) -> tuple[str, list[Any]]:
    """The one INSERT of call-log rows, and its parameters.

    This is on every call's path: `bulk_create` spends ~0.2 ms compiling SQL and
    opening a transaction for a single row, five times the insert itself. Values
    still go through each field's own database preparation, so types come out as
    the ORM would write them on any backend.
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _LOG_FIELDS)
    one_row = "(" + ", ".join(["%s"] * len(_LOG_FIELDS)) + ")"
    sql = (
        f"INSERT INTO {quote(CallLog._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([one_row] * len(rows))}"
    )
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _LOG_FIELDS
    ]
    return sql, params
