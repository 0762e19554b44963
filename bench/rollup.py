"""Benchmark: what the usage rollup adds to writing a call's log row.

Run with `make bench-rollup` (or `python -m bench.rollup --rows 3000`). It migrates a
throwaway SQLite database (or the one in BENCH_DATABASE_URL) and, interleaved, writes
one call-log row per call the way the log did before the rollup (one INSERT in
autocommit) and the way it does now (`insert_call_log`: the INSERT plus the rollup's
upsert, in one transaction), on the log's own connection. Keys and latencies vary
like real traffic (a few tasks and models, every hour bucket new now and then).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

from bench.__main__ import ROOT, scratch_dir


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=3000, help="Measured rows per side.")
    parser.add_argument("--warmup", type=int, default=200)
    args = parser.parse_args()
    workdir = scratch_dir("aiconfig-bench-rollup-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        DEBUG="0",
        SECRET_KEY="bench-only",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.utils import timezone

    from aiconfig.models import CallLog, UsageRollup
    from aiconfig.services.calls import log_insert
    from aiconfig.services.calls.log_connections import log_connection

    call_command("migrate", verbosity=0)
    rng = random.Random(1)
    tasks = ["text", "agent", "image", "summary"]
    models = ["gpt-4.1", "gpt-4o-mini", "claude-sonnet-4-0"]

    def a_row() -> CallLog:
        return CallLog(
            created_at=timezone.now(),
            task=rng.choice(tasks),
            operation="text",
            provider="openai",
            model=rng.choice(models),
            attempt=1,
            outcome="success" if rng.random() > 0.03 else "error",
            latency_ms=rng.lognormvariate(6, 1),
            input_tokens=rng.randint(10, 2000),
            output_tokens=rng.randint(10, 500),
            cost_usd=None,
            source="code",
        )

    connection = log_connection()

    def before() -> float:
        row = a_row()
        started = time.perf_counter()
        log_insert._insert_rows([row], connection)  # autocommit: one implicit transaction
        return time.perf_counter() - started

    def after() -> float:
        row = a_row()
        started = time.perf_counter()
        log_insert.insert_call_log([row], using=connection)
        return time.perf_counter() - started

    for _ in range(args.warmup):
        before()
        after()
    old: list[float] = []
    new: list[float] = []
    for i in range(args.rows):
        # Alternate which goes first so drift in the machine hits both alike.
        if i % 2:
            old.append(before())
            new.append(after())
        else:
            new.append(after())
            old.append(before())

    def ms(values: list[float], q: float) -> float:
        return statistics.quantiles(values, n=100)[int(q * 100) - 1] * 1000

    print(f"backend: {connection.vendor}; {args.rows} rows per side")
    print(f"{'':28}{'median':>10}{'p95':>10}{'mean':>10}")
    for label, values in (("insert only (before)", old), ("insert + rollup (now)", new)):
        mean = statistics.fmean(values) * 1000
        print(f"{label:28}{ms(values, 0.5):>9.3f}ms{ms(values, 0.95):>8.3f}ms{mean:>8.3f}ms")
    added = (statistics.median(new) - statistics.median(old)) * 1000
    print(f"added per call (median): {added:.3f} ms")
    print(f"rollup rows: {UsageRollup.objects.count()} for {CallLog.objects.count()} log rows")


if __name__ == "__main__":
    main()
