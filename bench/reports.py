"""Benchmark: the reports on a big call log (Usage page, `ai_usage`, admin list, explorer).

Run with `make bench-reports` (or `python -m bench.reports --rows 200000`). It migrates
a throwaway database (a temporary SQLite file; on PostgreSQL, when BENCH_DATABASE_URL
or DATABASE_URL points at a server, a new database on that server, dropped at the end),
generates the call log inside the database (`bench.report_data`: 90 days, 8 tasks, 12
models, 3% failures), builds the usage rollup from it as `ai_usage rebuild` does, and
times, in-process, as a signed-in user: the Usage page for 90 and 7 days, `ai_usage
--since 90d --json`, the admin's call-log list and the call explorer's first page
(when the URL `calls` exists). Default rows: 1,000,000 on SQLite, 10,000,000 on
PostgreSQL. Each report runs `--repeat` times; the first run (cold caches) and the
median are printed against the targets of issue 10.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def _database_url(workdir: Path) -> tuple[str, Callable[[], None]]:
    """The database to fill: a fresh one on the PostgreSQL server named, or a SQLite file."""
    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        return f"sqlite:///{workdir / 'reports.db'}", lambda: None
    import psycopg
    from psycopg import sql

    base = url.rpartition("/")[0].replace("postgres://", "postgresql://")
    name = f"aiconfig_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )

    return f"{base}/{name}", drop


def _timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall times of `repeat` runs, in milliseconds."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _load() -> str:
    try:
        one, five, _ = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    """Set up, generate, measure, print; returns the timings (for the smoke test)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, help="Call-log rows (1M SQLite, 10M PostgreSQL).")
    parser.add_argument("--days", type=float, default=90.0, help="Span of the log, in days.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each report.")
    parser.add_argument("--keep", action="store_true", help="Keep the database (prints its URL).")
    parser.add_argument(
        "--reuse",
        metavar="URL",
        help="Time the reports again on a database a --keep run left (migrated, not refilled).",
    )
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="aiconfig-bench-reports-"))
    if args.reuse:
        url, drop = args.reuse, lambda: None
        args.keep = True
    else:
        url, drop = _database_url(workdir)
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        # Plain static files and no HTTPS redirect; turned off again before measuring.
        DEBUG="1",
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS="testserver,localhost",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=url,
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    settings.DEBUG = False  # no query log, no template debug: as in production
    try:
        return _run(args)
    finally:
        from aiconfig.services.calls.log_connections import close_log_connections

        close_log_connections()
        connections.close_all()
        if args.keep:
            print(f"database kept: {url}")
            if args.reuse:  # the work directory held nothing of the database's
                shutil.rmtree(workdir, ignore_errors=True)
        else:
            drop()
            shutil.rmtree(workdir, ignore_errors=True)


def _run(args: argparse.Namespace) -> dict[str, list[float]]:
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.urls import NoReverseMatch, reverse
    from django.utils import timezone

    from aiconfig.models import CallLog, UsageDaily, UsageRollup
    from aiconfig.services.usage_daily import sum_days_for_report

    vendor = connection.vendor
    default_rows = 10_000_000 if vendor == "postgresql" else 1_000_000
    rows = args.rows if args.rows is not None else default_rows
    call_command("migrate", verbosity=0)
    users = get_user_model()
    reused = args.reuse and CallLog.objects.exists()
    if reused:
        admin = users.objects.get(username="bench-admin")
        rows = CallLog.objects.count()
    else:
        admin = users.objects.create_superuser("bench-admin", password="bench-pass-123")
    user_ids = [admin.pk] + [
        users.objects.get_or_create(username=f"bench-user-{k}")[0].pk for k in range(4)
    ]
    print(f"aiconfig reports benchmark: {rows:,} call-log rows over {args.days:g} days, "
          f"database {vendor}; machine load {_load()}")  # fmt: skip

    def progress(done: int, seconds: float) -> None:
        print(f"  generated {done:>12,} rows ({seconds:.1f} s for the last chunk)", flush=True)

    if not reused:
        _fill(rows=rows, days=args.days, user_ids=user_ids, progress=progress)
    # What the first report after a rebuild (or a deploy) does once: sum settled days.
    started = time.perf_counter()
    days = sum_days_for_report(since=timezone.now() - timedelta(days=args.days))
    print(f"daily sums of {days} settled days built in {time.perf_counter() - started:.1f} s "
          f"({UsageDaily.objects.count():,} rows)")  # fmt: skip

    client = Client()
    client.force_login(admin)

    def page(path: str) -> Callable[[], None]:
        def get() -> None:
            response = client.get(path)
            assert response.status_code == 200, (path, response.status_code)

        return get

    cli_output: list[str] = []

    def cli() -> None:
        out = io.StringIO()
        call_command("ai_usage", "--since", "90d", "--json", stdout=out)
        cli_output.append(out.getvalue())

    big = vendor == "postgresql"
    reports: list[tuple[str, Callable[[], None], float | None, str]] = [
        ("Usage page, 90 days", page("/usage/?period=90d"), 1000.0 if big else 300.0, ""),
        ("Usage page, 7 days", page("/usage/?period=7d"), None, ""),
        ("ai_usage --since 90d --json", cli, 1000.0 if big else None, ""),
        ("admin call-log list", page(reverse("admin:aiconfig_calllog_changelist")), 1000.0, ""),
    ]
    try:
        reports.append(("call explorer, first page", page(reverse("calls")), 100.0, ""))
    except NoReverseMatch:
        reports.append(("call explorer, first page", lambda: None, None, "skipped: no URL `calls`"))
    timings: dict[str, list[float]] = {}
    print(f"{'report (ms)':<32}{'first':>10}{'median':>10}  target")
    for label, fn, target, note in reports:
        if note:
            print(f"{label:<32}{'':>20}  {note}")
            continue
        times = timings[label] = _timed(fn, args.repeat)
        median = statistics.median(times)
        verdict = ""
        if target is not None:
            verdict = f"< {target:g} ms at this size: {'met' if median < target else 'NOT met'}"
        print(f"{label:<32}{times[0]:>10.1f}{median:>10.1f}  {verdict}")
    # The CLI's figures are the log's: its calls add up to the rows generated.
    counted = sum(r["calls"] for r in json.loads(cli_output[-1])["rows"])
    logged = CallLog.objects.count()
    print(f"ai_usage counts {counted:,} calls of {logged:,} log rows in 90 days "
          f"({UsageRollup.objects.count():,} rollup rows)")  # fmt: skip
    return timings


def _fill(
    *, rows: int, days: float, user_ids: list[int], progress: Callable[[int, float], None]
) -> None:
    """Generate the call log in the database and rebuild the rollup from it, timed."""
    from django.db import connection

    from aiconfig.services.rollup import rebuild_rollup
    from bench import report_data

    started = time.perf_counter()
    report_data.generate(rows=rows, days=days, user_ids=user_ids, progress=progress)
    generated = time.perf_counter() - started
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum would have done by now
    print(f"generated in {generated:.1f} s ({rows / max(generated, 1e-9):,.0f} rows/s)")
    started = time.perf_counter()
    rollup_rows = rebuild_rollup()
    rebuilt = time.perf_counter() - started
    print(f"usage rollup rebuilt (ai_usage rebuild) in {rebuilt:.1f} s: {rollup_rows:,} rows")


if __name__ == "__main__":
    main()
