"""Rebuilding the usage rollup inside the database: one `INSERT ... SELECT ... GROUP BY`.

`rebuild_rollup` (in `aiconfig.services.rollup`) used to read every call-log row into
Python and write the rollup back with the ORM: minutes for a million rows, most of it
spent building wide rollup objects. Here the database groups the rows itself, first per
key and latency bucket (few rows), then pivots the buckets into the histogram columns.

It must agree exactly with `rollup._contribution`, the per-row arithmetic the live
writes use: the same counters (`SUM_SQL`), the same UTC hour, and the same latency
bucket, decided by comparing with the exact float boundaries of `latency_bucket`
(`aiconfig.latency.bucket_thresholds`), bound as parameters so no decimal literal is
rounded by the database's parser. A key or counter without an expression here makes
`supported()` false and the rebuild falls back to the Python path.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiconfig.latency import BUCKET_COLUMNS, bucket_thresholds
from aiconfig.models import CallLog, CallOutcome, UsageRollup

_FAILED_SQL = f"('{CallOutcome.ERROR.value}', '{CallOutcome.TIMED_OUT.value}')"
_SUCCESS_SQL = f"'{CallOutcome.SUCCESS.value}'"

# Each rollup counter as SQL over one call-log row (see `rollup._contribution`);
# `{log}` stands for the call-log table.
SUM_SQL: dict[str, str] = {
    "attempts": "1",
    "calls": "CASE WHEN attempt = 1 THEN 1 ELSE 0 END",
    "fallbacks": "CASE WHEN is_fallback THEN 1 ELSE 0 END",
    "errors": f"CASE WHEN outcome IN {_FAILED_SQL} THEN 1 ELSE 0 END",
    # A failed attempt that is its call's last (no later attempt of the request): the
    # user got the error. Asked only of failed rows, through the request id index.
    "failed_calls": (
        f"CASE WHEN outcome IN {_FAILED_SQL} THEN CASE WHEN EXISTS (SELECT 1 FROM {{log}} "
        "AS later WHERE later.request_id = {log}.request_id AND later.attempt > {log}.attempt) "
        "THEN 0 ELSE 1 END ELSE 0 END"
    ),
    "input_tokens": "COALESCE(input_tokens, 0)",
    "output_tokens": "COALESCE(output_tokens, 0)",
    "cache_read_tokens": "COALESCE(cache_read_tokens, 0)",
    "cache_write_tokens": "COALESCE(cache_write_tokens, 0)",
    "reasoning_tokens": "COALESCE(reasoning_tokens, 0)",
    "images": "COALESCE(image_count, 0)",
    # Whole 1e-8 USD, as `rollup.cost_e8` (the log keeps 8 decimal places).
    "cost_e8": "COALESCE(CAST(ROUND(cost_usd * 100000000) AS BIGINT), 0)",
    "priced": "CASE WHEN cost_usd IS NOT NULL THEN 1 ELSE 0 END",
    "unpriced": f"CASE WHEN outcome = {_SUCCESS_SQL} AND cost_usd IS NULL THEN 1 ELSE 0 END",
}
# Each rollup key as SQL over one call-log row (the hour is the backend's own).
KEY_SQL: dict[str, str] = {
    "task": "task",
    "operation": "operation",
    "provider": "provider",
    "model": "model",
    "outcome": "outcome",
    "source": "source",
    "user_id": "COALESCE(user_id, 0)",
    "api_token": "COALESCE(api_token, '')",
}


def supported(key_fields: tuple[str, ...], sum_fields: tuple[str, ...]) -> bool:
    """Whether every key and counter of the rollup has its SQL here."""
    return set(key_fields) - {"hour"} <= set(KEY_SQL) and set(sum_fields) <= set(SUM_SQL)


def _hour_sql(vendor: str) -> str:
    """The UTC hour of `created_at`, stored as the ORM stores the rollup's hour."""
    if vendor == "postgresql":
        return "DATE_TRUNC('hour', created_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    if vendor == "sqlite":  # Django keeps UTC text, 'YYYY-MM-DD HH:MM:SS[.ffffff]'
        return "SUBSTR(created_at, 1, 13) || ':00:00'"
    raise NotImplementedError(vendor)


def _bucket_sql(thresholds: list[float], first: int, last: int) -> str:
    """A binary tree of comparisons: the bucket (first..last) `latency_ms` falls in."""
    if first == last:
        return str(first)
    middle = (first + last + 1) // 2  # thresholds[k - 1] is where bucket k starts
    below, above = _bucket_sql(thresholds, first, middle - 1), _bucket_sql(thresholds, middle, last)
    return f"CASE WHEN latency_ms < %s THEN {below} ELSE {above} END"


def _bucket_params(thresholds: list[float], first: int, last: int) -> list[float]:
    """The parameters of `_bucket_sql`, in the order its placeholders appear."""
    if first == last:
        return []
    middle = (first + last + 1) // 2
    return [
        thresholds[middle - 1],
        *_bucket_params(thresholds, first, middle - 1),
        *_bucket_params(thresholds, middle, last),
    ]


def insert_from_log(
    *, connection: Any, key_fields: tuple[str, ...], sum_fields: tuple[str, ...],
    start: dt.datetime | None,
) -> int:  # fmt: skip
    """Insert the rollup rows of the call log (from `start`) with one statement; rows written.

    The caller has deleted the rollup rows this replaces, in the same transaction.
    """
    quote = connection.ops.quote_name
    table = quote(CallLog._meta.db_table)
    keys = [k for k in key_fields if k != "hour"]
    thresholds = bucket_thresholds()
    last_bucket = len(BUCKET_COLUMNS) - 1
    inner = ", ".join(
        [
            f"{_hour_sql(connection.vendor)} AS k_hour",
            *(f"{KEY_SQL[k]} AS k_{k}" for k in keys),
            f"{_bucket_sql(thresholds, 0, last_bucket)} AS bucket",
            "COUNT(*) AS n",
            *(f"SUM({SUM_SQL[s].format(log=table)}) AS s_{s}" for s in sum_fields),
        ]
    )
    params: list[Any] = _bucket_params(thresholds, 0, last_bucket)
    where = ""
    if start is not None:
        where = f"WHERE {quote('created_at')} >= %s"
        params.append(CallLog._meta.get_field("created_at").get_db_prep_value(start, connection))
    group_count = 2 + len(keys)
    grouped = (
        f"SELECT {inner} FROM {table} {where} "
        f"GROUP BY {', '.join(str(i) for i in range(1, group_count + 1))}"
    )
    outer = ", ".join(
        [
            "k_hour",
            *(f"k_{k}" for k in keys),
            *(f"SUM(s_{s})" for s in sum_fields),
            *(f"SUM(CASE WHEN bucket = {b} THEN n ELSE 0 END)" for b in range(len(BUCKET_COLUMNS))),
        ]
    )
    columns = ["hour", *keys, *sum_fields, *BUCKET_COLUMNS]
    sql = (
        f"INSERT INTO {quote(UsageRollup._meta.db_table)} "
        f"({', '.join(quote(c) for c in columns)}) "
        f"SELECT {outer} FROM ({grouped}) AS grouped "
        f"GROUP BY {', '.join(str(i) for i in range(1, group_count))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount
