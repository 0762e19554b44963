"""Benchmark: what running a task adds over a bare SDK call, and how fast failover is.

Run with `make bench` (or `python -m bench --calls 400`). It starts the fake
provider in its own process, migrates a throwaway SQLite database (or the one in
BENCH_DATABASE_URL), and measures side by side, interleaved, in one run:

1. overhead: `generate_text` (config lookup, adapter cache, the SDK call, cost, one
   call-log row) versus the bare OpenAI SDK call to the same server;
2. failover: a task whose primary answers 500 and whose fallback answers, versus the
   two bare SDK calls it consists of (the failing one and the answering one).

Figures are medians and 95th percentiles of per-call wall time; the "added" figures
compare paired calls, so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SERVER = """
import sys
sys.path.insert(0, {root!r})
from tests.fake_provider import FakeProvider
server = FakeProvider().start()
print(server.url, flush=True)
sys.stdin.read()
"""


def start_fake_provider() -> tuple[subprocess.Popen[str], str]:
    """The fake provider in a separate process, so it does not share our GIL."""
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER.format(root=str(ROOT))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    return process, url


def timed(fn: Callable[[], object]) -> float:
    """Wall time of one call in milliseconds."""
    started = time.perf_counter()
    fn()
    return (time.perf_counter() - started) * 1000


def row(label: str, values: list[float]) -> str:
    """One line of the report."""
    from aiconfig.selectors import percentile

    return (
        f"  {label:<44} median {statistics.median(values):8.3f} ms"
        f"   p95 {percentile(values, 0.95):8.3f} ms"
    )


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="Measured calls per side.")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()

    server, url = start_fake_provider()
    workdir = Path(tempfile.mkdtemp(prefix="aiconfig-bench-"))
    keys = {"OPENAI_API_KEY": "sk-bench-openai-0000", "ANTHROPIC_API_KEY": "sk-bench-anth-0000"}
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        DEBUG="0",
        SECRET_KEY="bench-only",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
        OPENAI_BASE_URL=f"{url}/v1",
        ANTHROPIC_BASE_URL=url,
        AI_TEXT_PROVIDER="openai",
        AI_TEXT_MODEL="gpt-4.1",
        AI_AGENT_PROVIDER="openai",
        AI_AGENT_MODEL="fail-500",
        AI_AGENT_FALLBACK_PROVIDER="openai",
        AI_AGENT_FALLBACK_MODEL="gpt-4.1",
        **keys,
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import openai
    from django.core.management import call_command

    from aiconfig.models import CallLog
    from aiconfig.services import calls

    try:
        call_command("migrate", verbosity=0)
        bare = openai.OpenAI(base_url=f"{url}/v1", api_key=keys["OPENAI_API_KEY"], max_retries=0)
        messages = [{"role": "user", "content": "Say hello to the benchmark"}]

        def bare_ok() -> None:
            bare.chat.completions.create(model="gpt-4.1", messages=messages)  # type: ignore[arg-type]

        def bare_500() -> None:
            with contextlib.suppress(openai.InternalServerError):
                bare.chat.completions.create(model="fail-500", messages=messages)  # type: ignore[arg-type]

        def via_aiconfig() -> None:
            calls.generate_text(prompt="Say hello to the benchmark")

        def via_failover() -> None:
            run = calls.generate_text(task="agent", prompt="Say hello to the benchmark")
            assert run.fallback_used

        for _ in range(args.warmup):
            bare_ok(), bare_500(), via_aiconfig(), via_failover()

        plain, managed, failing, failover = [], [], [], []
        for _ in range(args.calls):
            plain.append(timed(bare_ok))
            managed.append(timed(via_aiconfig))
            failing.append(timed(bare_500))
            failover.append(timed(via_failover))
        overhead = [m - p for m, p in zip(managed, plain, strict=True)]
        # The failover call = a failing attempt + an answering one; what it adds beyond
        # those two bare requests is the cost of failing over.
        beyond = [f - (x + p) for f, x, p in zip(failover, failing, plain, strict=True)]

        database = django.db.connection.vendor
        print(f"aiconfig benchmark: {args.calls} calls per side, database {database}, "
              f"fake provider in a separate process")  # fmt: skip
        print("Overhead of running a task (text: config lookup + adapter + cost + log row)")
        print(row("bare SDK call", plain))
        print(row("generate_text()", managed))
        print(row("added per call (paired difference)", overhead))
        print("Failover from a primary that answers 500")
        print(row("bare SDK call answering 500", failing))
        print(row("generate_text() with failover", failover))
        print(row("added beyond the two bare requests", beyond))
        median_overhead = statistics.median(overhead)
        median_beyond = statistics.median(beyond)
        print(f"Targets: overhead < 0.5 ms median -> {median_overhead:.3f} ms "
              f"({'met' if median_overhead < 0.5 else 'NOT met'}); "
              f"failover < 5 ms -> {median_beyond:.3f} ms "
              f"({'met' if median_beyond < 5 else 'NOT met'})")  # fmt: skip
        print(f"Call-log rows written: {CallLog.objects.count()}")
    finally:
        server.kill()
        server.wait()


if __name__ == "__main__":
    main()
