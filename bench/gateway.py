"""Benchmark the HTTP gateway: what `/v1/` adds over calling the provider directly.

Run with `python -m bench.gateway --calls 300` (or `make bench-gateway`). It starts
the fake provider in its own process, migrates a throwaway SQLite database (or
BENCH_DATABASE_URL), creates a token, starts uvicorn with one worker as `make serve`
does, and then, interleaved, with the official OpenAI SDK on both sides:

1. a chat completion straight to the fake provider versus the same request through
   the gateway (task `text` on that provider): token check, rate-limit counter,
   config lookup, the provider call, the log row, the answer;
2. time to the first streamed token, direct versus through the gateway.

Figures are medians and 95th percentiles of per-call wall time; "added" compares
paired calls, so machine noise hits both sides alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from bench.__main__ import ROOT, start_fake_provider

MAKE_TOKEN = (
    "from aiconfig.services.tokens import create_token; print(create_token(name='bench').secret)"
)


def pct(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def line(label: str, direct: list[float], gateway: list[float]) -> str:
    """One row: median and p95 of each side, and of the paired differences."""
    added = [g - d for g, d in zip(gateway, direct, strict=True)]
    cells = [f"{statistics.median(v):7.2f} / {pct(v, 0.95):7.2f}" for v in (direct, gateway, added)]
    return f"{label:22} " + "   ".join(cells)


def ms(fn: Callable[[], object]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    """Until uvicorn answers (or gave up)."""
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=1, trust_env=False)
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start") from None
            time.sleep(0.2)


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="Measured calls per side.")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import openai

    fake, fake_url = start_fake_provider()
    workdir = Path(tempfile.mkdtemp(prefix="aiconfig-bench-gw-"))
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "AICONFIG_ENV_FILE": str(workdir / "none.env"),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
        "OPENAI_BASE_URL": f"{fake_url}/v1",
        "OPENAI_API_KEY": "sk-bench-openai-0000",
        "AI_TEXT_PROVIDER": "openai",
        "AI_TEXT_MODEL": "gpt-4.1",
        "PYTHONPATH": str(ROOT),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True, cwd=ROOT)
    token = subprocess.run(
        [*manage, "shell", "--no-imports", "-c", MAKE_TOKEN],
        env=env,
        check=True,
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout.strip()
    url = f"http://127.0.0.1:{args.port}"
    uvicorn = [sys.executable, "-m", "uvicorn", "aiconfig.asgi:application", "--lifespan", "off"]
    server = subprocess.Popen(
        [*uvicorn, "--workers", "1", "--port", str(args.port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for(url, server)
        direct = openai.OpenAI(base_url=f"{fake_url}/v1", api_key="sk-bench", max_retries=0)
        gateway = openai.OpenAI(base_url=f"{url}/v1", api_key=token, max_retries=0)
        messages = [{"role": "user", "content": "Say hello to the benchmark"}]

        def call(client: openai.OpenAI, model: str) -> Callable[[], object]:
            return lambda: client.chat.completions.create(model=model, messages=messages)  # type: ignore[arg-type]

        def first_token(client: openai.OpenAI, model: str) -> float:
            start = time.perf_counter()
            stream = client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                stream=True,
            )
            elapsed = 0.0
            for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    elapsed = (time.perf_counter() - start) * 1000
                    break
            stream.close()
            return elapsed

        result: dict[str, list[float]] = {k: [] for k in ("d", "g", "ds", "gs")}
        for i in range(args.warmup + args.calls):
            d, g = ms(call(direct, "gpt-4.1")), ms(call(gateway, "text"))
            ds, gs = first_token(direct, "gpt-4.1"), first_token(gateway, "text")
            if i >= args.warmup:
                for key, value in zip(["d", "g", "ds", "gs"], (d, g, ds, gs), strict=True):
                    result[key].append(value)
        print(f"gateway bench: {args.calls} calls per side, one uvicorn worker, ms")
        print(f"{'':22} {'direct  med / p95':>17}   {'gateway med / p95':>17}   added med / p95")
        print(line("chat completion", result["d"], result["g"]))
        print(line("stream first token", result["ds"], result["gs"]))
    finally:
        server.terminate()
        server.wait(timeout=10)
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
