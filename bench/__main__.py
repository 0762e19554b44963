"""Benchmark: what running a task adds over a bare SDK call, and how fast failover is.

Run with `make bench` (or `python -m bench --calls 400`). It starts the fake
provider in its own process, migrates a throwaway SQLite database (or the one in
BENCH_DATABASE_URL), and measures side by side, interleaved, in one run:

1. overhead: `generate_text` (config lookup, adapter cache, the SDK call, cost, one
   call-log row handed to the writer thread) versus the bare OpenAI SDK call to the
   same server. The bare call is the very request the adapter makes: for a plain text
   body the adapter posts through the SDK client's `post`, skipping the ~0.3 ms
   `create()` spends walking the body through its parameter types, and reads the
   answer as plain JSON (`cast_to=object`), so `create()` is timed too and the
   overhead is printed against both; the target is read against `post`, so that
   figure is our own bookkeeping alone;
2. failover: a task whose primary answers 500 and whose fallback answers, versus the
   two bare SDK calls it consists of (the failing one and the answering one);
3. both again on the async path (`agenerate_text` on the async SDK clients, versus
   bare `AsyncOpenAI` calls), printed beside the blocking figures;
4. a 3-way fan-out (one route answers, one answers 500, one is Anthropic), blocking
   and async, versus the same three bare SDK calls made one after another.

Figures are medians and 95th percentiles of per-call wall time; the "added" figures
compare paired calls, so machine noise hits both sides alike.

A call returns before its log rows are written: the call-log writer thread writes
them. So that this work never lands inside the next timed call (a bare one, which it
would make look slower), the bench waits for the writer after each managed call,
outside the timing, and prints that wait too ("log rows, written after the call
returned"): what the write costs, in the background.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
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


def scratch_dir(prefix: str) -> Path:
    """A fresh temporary directory for a bench's database, removed when the bench exits."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    atexit.register(shutil.rmtree, workdir, ignore_errors=True)
    return workdir


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


async def atimed(fn: Callable[[], Awaitable[object]]) -> float:
    """Wall time of one awaited call in milliseconds."""
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


def figure(values: list[float]) -> str:
    """Median and 95th percentile, in one column."""
    from aiconfig.selectors import percentile

    return f"{statistics.median(values):8.3f} / {percentile(values, 0.95):8.3f} ms"


def row(label: str, sync: list[float], async_: list[float] | None = None) -> str:
    """One line of the report: blocking and async side by side (median / p95)."""
    other = figure(async_) if async_ is not None else ""
    return f"  {label:<40} {figure(sync):>24}   {other:>24}"


FAN_OUT_ROUTES = [("openai", "gpt-4.1"), ("openai", "fail-500"), ("anthropic", "claude-sonnet-4-5")]


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="Measured calls per side.")
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    # The SDKs warn about model names they consider retired; the fake serves them all.
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    server, url = start_fake_provider()
    workdir = scratch_dir("aiconfig-bench-")
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
    import anthropic
    import openai
    from django.core.management import call_command

    from aiconfig.models import CallLog
    from aiconfig.services import calls

    try:
        call_command("migrate", verbosity=0)
        bare = openai.OpenAI(base_url=f"{url}/v1", api_key=keys["OPENAI_API_KEY"], max_retries=0)
        messages = [{"role": "user", "content": "Say hello to the benchmark"}]

        def body(model: str) -> dict[str, object]:
            return {"model": model, "messages": messages}

        def bare_create() -> None:
            bare.chat.completions.create(model="gpt-4.1", messages=messages)  # type: ignore[arg-type]

        def bare_ok() -> None:
            bare.post("/chat/completions", body=body("gpt-4.1"), cast_to=object)

        def bare_500() -> None:
            with contextlib.suppress(openai.InternalServerError):
                bare.post("/chat/completions", body=body("fail-500"), cast_to=object)

        def via_aiconfig() -> None:
            calls.generate_text(prompt="Say hello to the benchmark")

        def via_failover() -> None:
            run = calls.generate_text(task="agent", prompt="Say hello to the benchmark")
            assert run.fallback_used

        def log_written() -> None:
            calls.wait_for_call_log()

        bare_anthropic = anthropic.Anthropic(
            base_url=url, api_key=keys["ANTHROPIC_API_KEY"], max_retries=0
        )

        def bare_three() -> None:
            bare_ok(), bare_500()
            bare_anthropic.messages.create(
                model="claude-sonnet-4-5",
                max_tokens=64,
                messages=messages,  # type: ignore[arg-type]
            )

        def via_fan_out() -> None:
            events = list(calls.fan_out(task="text", prompt="Say hi", routes=FAN_OUT_ROUTES))
            assert len(events) == 3

        for _ in range(args.warmup):
            bare_ok(), bare_500(), via_aiconfig(), via_failover(), via_fan_out()
            bare_create()

        plain, managed, failing, failover, three, fanned = [], [], [], [], [], []
        writes, failover_writes, created = [], [], []
        for _ in range(args.calls):
            created.append(timed(bare_create))
            plain.append(timed(bare_ok))
            managed.append(timed(via_aiconfig))
            writes.append(timed(log_written))
            failing.append(timed(bare_500))
            failover.append(timed(via_failover))
            failover_writes.append(timed(log_written))
        for _ in range(max(1, args.calls // 4)):
            three.append(timed(bare_three))
            fanned.append(timed(via_fan_out))
            log_written()
        overhead = [m - p for m, p in zip(managed, plain, strict=True)]
        over_create = [m - c for m, c in zip(managed, created, strict=True)]
        # The failover call = a failing attempt + an answering one; what it adds beyond
        # those two bare requests is the cost of failing over.
        beyond = [f - (x + p) for f, x, p in zip(failover, failing, plain, strict=True)]
        a = asyncio.run(measure_async(args, url, keys, messages))

        database = django.db.connection.vendor
        print(f"aiconfig benchmark: {args.calls} calls per side, database {database}, "
              f"fake provider in a separate process")  # fmt: skip
        print(f"  {'(median / p95)':<40} {'blocking':>24}   {'async':>24}")
        print("Overhead of running a task (text: config lookup + adapter + cost + log row)")
        print(row("bare SDK call, create()", created, a["created"]))
        print(row("bare SDK call, the adapter's request", plain, a["plain"]))
        print(row("generate_text() / agenerate_text()", managed, a["managed"]))
        print(row("added per call (paired difference)", overhead, a["overhead"]))
        print(row("  the same, against create()", over_create, a["over_create"]))
        print(row("log row, written after the call returned", writes, a["writes"]))
        print("Failover from a primary that answers 500")
        print(row("bare SDK call answering 500", failing, a["failing"]))
        print(row("call with failover", failover, a["failover"]))
        print(row("added beyond the two bare requests", beyond, a["beyond"]))
        written = "log rows, written after the call returned"
        print(row(written, failover_writes, a["failover_writes"]))
        print("3-way fan-out (answers, answers 500, Anthropic), wall time")
        print(row("three bare SDK calls, one after another", three, a["three"]))
        print(row("fan_out() / afan_out()", fanned, a["fanned"]))
        median_overhead = statistics.median(overhead)
        median_beyond = statistics.median(beyond)
        print(f"Targets (blocking, {database}): overhead < 0.5 ms median -> "
              f"{median_overhead:.3f} ms "
              f"({'met' if median_overhead < 0.5 else 'NOT met'}); "
              f"failover < 0.5 ms -> {median_beyond:.3f} ms "
              f"({'met' if median_beyond < 0.5 else 'NOT met'})")  # fmt: skip
        print(f"Call-log rows written: {CallLog.objects.count()}")
    finally:
        server.kill()
        server.wait()


async def measure_async(
    args: argparse.Namespace, url: str, keys: dict[str, str], messages: list[dict[str, str]]
) -> dict[str, list[float]]:
    """The same measurements on the async path, in one event loop."""
    import anthropic
    import openai

    from aiconfig.services import calls

    bare = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=keys["OPENAI_API_KEY"], max_retries=0)
    bare_anthropic = anthropic.AsyncAnthropic(
        base_url=url, api_key=keys["ANTHROPIC_API_KEY"], max_retries=0
    )

    async def bare_create() -> None:
        await bare.chat.completions.create(model="gpt-4.1", messages=messages)  # type: ignore[arg-type]

    async def bare_ok() -> None:
        body = {"model": "gpt-4.1", "messages": messages}
        await bare.post("/chat/completions", body=body, cast_to=object)

    async def bare_500() -> None:
        body = {"model": "fail-500", "messages": messages}
        with contextlib.suppress(openai.InternalServerError):
            await bare.post("/chat/completions", body=body, cast_to=object)

    async def bare_three() -> None:
        await bare_ok()
        await bare_500()
        await bare_anthropic.messages.create(
            model="claude-sonnet-4-5",
            max_tokens=64,
            messages=messages,  # type: ignore[arg-type]
        )

    async def via_aiconfig() -> None:
        await calls.agenerate_text(prompt="Say hello to the benchmark")

    async def via_failover() -> None:
        run = await calls.agenerate_text(task="agent", prompt="Say hello to the benchmark")
        assert run.fallback_used

    async def via_fan_out() -> None:
        events = [
            e async for e in calls.afan_out(task="text", prompt="Say hi", routes=FAN_OUT_ROUTES)
        ]
        assert len(events) == 3

    async def log_written() -> None:
        await asyncio.to_thread(calls.wait_for_call_log)

    for _ in range(args.warmup):
        await bare_ok(), await bare_500(), await via_aiconfig(), await via_failover()
        await bare_create()
        await via_fan_out()
    names = ("created", "plain", "managed", "writes", "failing", "failover", "failover_writes")
    result: dict[str, list[float]] = {k: [] for k in (*names, "three", "fanned")}
    for _ in range(args.calls):
        result["created"].append(await atimed(bare_create))
        result["plain"].append(await atimed(bare_ok))
        result["managed"].append(await atimed(via_aiconfig))
        result["writes"].append(await atimed(log_written))
        result["failing"].append(await atimed(bare_500))
        result["failover"].append(await atimed(via_failover))
        result["failover_writes"].append(await atimed(log_written))
    for _ in range(max(1, args.calls // 4)):
        result["three"].append(await atimed(bare_three))
        result["fanned"].append(await atimed(via_fan_out))
        await log_written()
    result["overhead"] = [m - p for m, p in zip(result["managed"], result["plain"], strict=True)]
    result["over_create"] = [
        m - c for m, c in zip(result["managed"], result["created"], strict=True)
    ]
    result["beyond"] = [
        f - (x + p)
        for f, x, p in zip(result["failover"], result["failing"], result["plain"], strict=True)
    ]
    return result


if __name__ == "__main__":
    main()
