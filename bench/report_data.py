"""A realistic call log generated inside the database, for `bench.reports`.

One `INSERT ... SELECT` per chunk of rows: `generate_series` on PostgreSQL, a
recursive CTE on SQLite, so ten million rows take minutes, not the hours a Python loop
(or the ORM) would. Everything is a deterministic function of the row number `i`:

- 90 days (by default) ending now, rows in time order, ~evenly spread with jitter;
- 8 tasks with skewed traffic, 12 models (each task mostly on its own model), one model
  self-hosted at $0 and one without a price (cost unknown);
- 3% of attempts fail (errors and timeouts) and 0.2% are cancelled; two thirds of the
  failed first attempts are followed by a fallback attempt (attempt 2, same request);
- latency skewed per model (a long tail, timeouts at 30 s), tokens skewed, cache reads
  on some Anthropic calls;
- sources code/api/ui/cli/playground; users on ui/cli/playground rows, API token names
  on api rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

TASKS: tuple[tuple[str, int], ...] = (
    # (task, cumulative share in %)
    ("text", 35),
    ("summary", 55),
    ("agent", 67),
    ("classify", 77),
    ("extract", 85),
    ("translate", 92),
    ("chat", 97),
    ("image", 100),
)
MODELS: tuple[tuple[str, str, float | None, float | None, int], ...] = (
    # (provider, model, USD per input token, per output token, typical latency ms)
    ("openai", "gpt-4.1", 2e-6, 8e-6, 900),
    ("openai", "gpt-4.1-mini", 0.4e-6, 1.6e-6, 450),
    ("anthropic", "claude-sonnet-4-5", 3e-6, 15e-6, 1200),
    ("anthropic", "claude-haiku-4-5", 1e-6, 5e-6, 500),
    ("openai", "gpt-4o-mini", 0.15e-6, 0.6e-6, 400),
    ("google", "gemini-2.5-flash", 0.3e-6, 2.5e-6, 600),
    ("openai", "o4-mini", 1.1e-6, 4.4e-6, 2500),
    ("anthropic", "claude-opus-4-1", 15e-6, 75e-6, 2000),
    ("mistral", "mistral-large-latest", 2e-6, 6e-6, 800),
    ("ollama", "llama3.1:8b", 0.0, 0.0, 1500),
    ("openai", "gpt-image-1", None, None, 9000),
    ("internal", "house-model-v2", None, None, 700),
)
SOURCES: tuple[tuple[str, int], ...] = (
    ("code", 55),
    ("api", 75),
    ("ui", 85),
    ("cli", 90),
    ("playground", 100),
)
API_TOKENS = ("backend", "mobile-app", "batch-jobs")
_PRIME = 1_000_003
_PARAM = "<param>"
GENERATED = (
    "request_id", "created_at", "task", "operation", "provider", "model", "response_model",
    "attempt", "is_fallback", "outcome", "error_kind", "error_message", "latency_ms",
    "input_tokens", "output_tokens", "image_count", "cache_read_tokens", "cost_usd",
    "source", "user_id", "api_token",
)  # fmt: skip


def mix(var: str, salt: int) -> str:
    """SQL for a well-spread pseudo-random integer in [0, 1000003) from integer `var`.

    Quadratic in `var`, so different salts give (practically) independent streams;
    kept within 64-bit integers for any row count below 10^12.
    """
    a, b = 7919 + 104_729 * salt, 15_485_863 + 31 * salt
    return f"((({var} % {_PRIME}) * ({var} % {_PRIME}) * {a} + {var} * {b} + {salt}) % {_PRIME})"


def _pick(expression: str, table: Sequence[tuple[str, int]]) -> str:
    """SQL CASE choosing a value (SQL) by cumulative percentage of `expression` % 100."""
    branches = " ".join(
        f"WHEN ({expression}) % 100 < {share} THEN {value}" for value, share in table
    )
    return f"CASE {branches} END"


def _index_case(index: str, values: Sequence[str]) -> str:
    """SQL CASE mapping an integer expression 0..n-1 to SQL value expressions."""
    return "CASE " + " ".join(f"WHEN {index} = {k} THEN {v}" for k, v in enumerate(values)) + " END"


def _literal(value: float | None) -> str:
    return "NULL" if value is None else repr(float(value))


def statement(
    vendor: str,
    *,
    first: int,
    last: int,
    start_epoch: float,
    step_seconds: float,
    user_ids: Sequence[int],
    columns: Sequence[str],
) -> str:
    """One `WITH ... INSERT INTO ... SELECT` generating rows `first`..`last` (inclusive).

    Stages are MATERIALIZED so each derived value (the row's call, task, model, source)
    is computed once per row, not once per place it is used.
    """
    if vendor == "postgresql":
        seq = f"seq AS (SELECT generate_series({first}::bigint, {last}::bigint) AS i)"
    else:
        seq = f"seq(i) AS (SELECT {first} UNION ALL SELECT i + 1 FROM seq WHERE i < {last})"
    models = ", ".join(
        f"({k}, '{m[0]}', '{m[1]}', {_literal(m[2])}, {_literal(m[3])}, {m[4]})"
        for k, m in enumerate(MODELS)
    )
    failed_before = f"({mix('(i - 1)', 1)} % 1000 < 30)"
    fb = f"CASE WHEN i > 0 AND {failed_before} AND {mix('i', 2)} % 3 <> 0 THEN 1 ELSE 0 END"
    task = _pick(mix("c", 3), [(str(k), share) for k, (_, share) in enumerate(TASKS)])
    source = _pick(mix("c", 10), [(f"'{name}'", share) for name, share in SOURCES])
    model = (
        "CASE WHEN ti = 7 THEN 10 "  # images on the image model
        f"WHEN ti = 4 AND {mix('c', 6)} % 4 = 0 THEN 11 "  # part of "extract" is unpriced
        f"ELSE (ti + CASE WHEN {mix('c', 4)} % 5 = 0 THEN {mix('c', 5)} % 10 ELSE 0 END "
        "+ fb * 3) % 10 END"
    )
    n_users = max(1, len(user_ids))
    user = _index_case(f"({mix('c', 13)} % {n_users})", [str(u) for u in user_ids] or ["NULL"])
    token = _index_case(f"({mix('c', 15)} % 3)", [f"'{t}'" for t in API_TOKENS])
    stages = (
        f"WITH RECURSIVE {seq}, "
        f"mdl(mi, provider, model, pin, pout, base) AS (VALUES {models}), "
        f"s1 AS MATERIALIZED (SELECT i, fb, i - fb AS c, {mix('i', 1)} % 1000 AS roll, "
        f"{mix('i', 7)} * 1.0 / {_PRIME} AS u, "
        f"40 + ({mix('i', 8)} % 90) * ({mix('i', 8)} % 90) / 2 AS tin, "
        f"8 + ({mix('i', 9)} % 40) * ({mix('i', 9)} % 40) / 2 AS tout "
        f"FROM (SELECT i, {fb} AS fb FROM seq) AS s0), "
        f"s2 AS MATERIALIZED (SELECT s1.*, {task} AS ti, {source} AS src FROM s1), "
        f"s3 AS MATERIALIZED (SELECT s2.*, {model} AS m FROM s2) "
    )
    jitter = f"({mix('i', 12)} % 900) * {step_seconds / 1000!r}"
    when = f"{start_epoch!r} + i * {step_seconds!r} + {jitter}"
    timed_out, failed, success = "(roll < 8)", "(roll < 30)", "(roll >= 32)"
    is_image = "(ti = 7)"
    exact = cast_numeric(vendor, "tin * pin + tout * pout")
    expressions = {
        "request_id": request_id_sql(vendor, "c"),
        "created_at": timestamp_sql(vendor, when),
        "task": _index_case("ti", [f"'{t}'" for t, _ in TASKS]),
        "operation": f"CASE WHEN {is_image} THEN 'image' ELSE 'text' END",
        "provider": "mdl.provider",
        "model": "mdl.model",
        "response_model": "mdl.model",
        "attempt": "1 + fb",
        "is_fallback": "(fb = 1)",
        "outcome": (
            f"CASE WHEN {timed_out} THEN 'timed_out' WHEN {failed} THEN 'error' "
            f"WHEN NOT {success} THEN 'cancelled' ELSE 'success' END"
        ),
        "error_kind": (
            f"CASE WHEN {timed_out} THEN 'timeout' WHEN {failed} THEN 'server_error' "
            f"WHEN NOT {success} THEN 'cancelled' ELSE '' END"
        ),
        "error_message": (
            f"CASE WHEN {timed_out} THEN 'No answer within 30 s' "
            f"WHEN {failed} THEN 'Error code: 500 - upstream overloaded' ELSE '' END"
        ),
        # A long tail: most calls near the model's typical latency, a few far above.
        "latency_ms": (
            f"CASE WHEN {timed_out} THEN 30000.0 ELSE base * (0.35 + 2.2 * u * u * u "
            f"+ CASE WHEN u > 0.995 THEN 6.0 ELSE 0 END) + ({mix('i', 11)} % 1000) / 1000.0 END"
        ),
        "input_tokens": f"CASE WHEN {success} AND NOT {is_image} THEN tin END",
        "output_tokens": f"CASE WHEN {success} AND NOT {is_image} THEN tout END",
        "image_count": f"CASE WHEN {success} AND {is_image} THEN 1 ELSE 0 END",
        "cache_read_tokens": (
            f"CASE WHEN {success} AND m IN (2, 3, 7) AND {mix('i', 14)} % 10 < 3 THEN tin / 2 END"
        ),
        "cost_usd": (
            f"CASE WHEN NOT {success} THEN NULL WHEN {is_image} THEN 0.04 "
            f"WHEN pin IS NULL THEN NULL ELSE ROUND({exact}, 8) END"
        ),
        "source": "src",
        "user_id": f"CASE WHEN src IN ('ui', 'cli', 'playground') THEN {user} END",
        "api_token": f"CASE WHEN src = 'api' THEN {token} ELSE '' END",
    }
    assert set(expressions) == set(GENERATED)
    values = [expressions.get(name, _PARAM) for name in columns]
    sql = (
        f"{stages}INSERT INTO {{table}} ({{names}}) SELECT {', '.join(values)} "
        "FROM s3 JOIN mdl ON mdl.mi = s3.m"
    )
    # Parameters are bound the DB-API way: a literal % (modulo, printf) is written %%.
    return sql.replace("%", "%%").replace(_PARAM, "%s")


def cast_numeric(vendor: str, expression: str) -> str:
    """A float expression as the backend's exact decimal type (ROUND needs it on PostgreSQL)."""
    return f"CAST({expression} AS NUMERIC)" if vendor == "postgresql" else f"({expression})"


def request_id_sql(vendor: str, var: str) -> str:
    """A UUID per call number, stored as Django stores UUIDs on the backend."""
    if vendor == "postgresql":
        return f"CAST(LPAD(TO_HEX({var}), 32, '0') AS uuid)"
    return f"printf('%032x', {var})"  # Django keeps UUIDs as 32 hex digits on SQLite


def timestamp_sql(vendor: str, epoch: str) -> str:
    """A Unix time in seconds as the backend's datetime (SQLite: Django's UTC text form)."""
    if vendor == "postgresql":
        return f"TO_TIMESTAMP({epoch})"
    return f"strftime('%Y-%m-%d %H:%M:%f', {epoch}, 'unixepoch')"


def generate(
    *,
    rows: int,
    days: float,
    user_ids: Sequence[int],
    chunk: int = 1_000_000,
    progress: Callable[[int, float], None] | None = None,
) -> None:
    """Insert `rows` call-log rows spread over the last `days`, in chunks (in the database)."""
    from django.db import connection

    from aiconfig.models import CallLog

    vendor = connection.vendor
    # Ten minutes clear of both ends, so a report "for the last `days`" run a little
    # later still sees every row.
    now = time.time() - 600
    step = (days * 86400 - 1200) / max(rows, 1)
    quote = connection.ops.quote_name
    fields = [f for f in CallLog._meta.concrete_fields if not f.primary_key]
    names = [quote(f.column) for f in fields]
    # Columns this generator does not know get their default, as the ORM writes it.
    params = [
        f.get_db_prep_save(f.get_default(), connection)
        for f in fields
        if f.attname not in GENERATED
    ]
    done = 0
    while done < rows:
        first, last = done, min(rows, done + chunk) - 1
        sql = statement(
            vendor,
            first=first,
            last=last,
            start_epoch=now - days * 86400 + 1200,
            step_seconds=step,
            user_ids=user_ids,
            columns=[f.attname for f in fields],
        ).format(table=quote(CallLog._meta.db_table), names=", ".join(names))
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        done = last + 1
        if progress is not None:
            progress(done, time.perf_counter() - started)
