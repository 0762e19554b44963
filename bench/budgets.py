"""Benchmark: what budgets add to a call.

Run with `make bench-budgets` (or `python -m bench.budgets --calls 300`). It starts the
fake provider in its own process, migrates a throwaway SQLite database (or the one in
BENCH_DATABASE_URL) and, interleaved in one run, makes `generate_text` calls for a
task without a budget and for one with a `stop` budget (not spent), then counts the
database queries of the budget gate itself in both states. Figures are medians and
95th percentiles of per-call wall time; "added" compares paired calls.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import warnings
from pathlib import Path

from bench.__main__ import figure, scratch_dir, start_fake_provider, timed

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="Measured calls per side.")
    parser.add_argument("--warmup", type=int, default=30)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    server, url = start_fake_provider()
    workdir = scratch_dir("aiconfig-bench-budgets-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        DEBUG="0",
        SECRET_KEY="bench-only",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
        OPENAI_BASE_URL=f"{url}/v1",
        OPENAI_API_KEY="sk-bench-openai-0000",
        AI_TEXT_PROVIDER="openai",
        AI_TEXT_MODEL="gpt-4.1",
        AI_AGENT_PROVIDER="openai",
        AI_AGENT_MODEL="gpt-4.1",
        AICONFIG_ALERTS_AFTER_CALLS_SECONDS="0",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from aiconfig.selectors.budgets import stopping_budget
    from aiconfig.services import calls
    from aiconfig.services.budgets import save_budget
    from aiconfig.services.calls.plan import resolve

    try:
        call_command("migrate", verbosity=0)

        def gate_queries(task: str) -> int:
            resolve(task)  # warm: the budget list and spend cached
            with CaptureQueriesContext(connection) as captured:
                snapshot, _ = resolve(task)
                stopping_budget(snapshot, task)
            return len(captured)

        no_budget_queries = gate_queries("agent")
        save_budget(task="text", amount_usd="1000", action="stop")
        budget_queries = gate_queries("text")

        def plain() -> None:
            calls.generate_text(prompt="Say hello to the benchmark", task="agent")

        def budgeted() -> None:
            calls.generate_text(prompt="Say hello to the benchmark", task="text")

        for _ in range(args.warmup):
            plain()
            budgeted()
        without: list[float] = []
        with_budget: list[float] = []
        for i in range(args.calls):
            # Alternate which goes first so drift in the machine hits both alike.
            if i % 2:
                without.append(timed(plain))
                with_budget.append(timed(budgeted))
            else:
                with_budget.append(timed(budgeted))
                without.append(timed(plain))
        added = [b - a for a, b in zip(without, with_budget, strict=True)]
        print(f"budgets benchmark: {args.calls} calls per side, {connection.vendor}")
        print(f"  {'(median / p95)':<44} {'per call':>24}")
        print(f"  {'generate_text, task without a budget':<44} {figure(without):>24}")
        print(f"  {'generate_text, task with a stop budget':<44} {figure(with_budget):>24}")
        print(f"  {'added per call (paired difference)':<44} {figure(added):>24}")
        print(f"  median added: {statistics.median(added):.3f} ms")
        print(
            "  queries per call: config check + budget gate, no budget: "
            f"{no_budget_queries}; with a stop budget (spend cached): {budget_queries}"
        )
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
