"""Benchmark the HTTP gateway: what `/v1/` adds over calling the provider directly.

Run with `python -m bench.gateway --calls 300` (or `make bench-gateway`). It starts
the fake provider in its own process, migrates a throwaway SQLite database (or
BENCH_DATABASE_URL), creates a token, starts uvicorn with one worker as `make serve`
does, and then, interleaved, with the official OpenAI SDK on both sides:

1. a chat completion straight to the fake provider versus the same request through
   the gateway (task `text` on that provider): token check, rate-limit counter,
   config lookup, the provider call, the log row, the answer;
2. time to the first streamed token, direct versus through the gateway;
   both beside the floor: a bare ASGI app under the same uvicorn that forwards the
   request through the same async SDK and nothing else (`bench.gateway_floor`), so
   what the gateway adds splits into the extra HTTP hop and our own work;
3. then uvicorn with four workers, as `make serve` runs it, and 200 clients streaming
   at once (`--streams`), several rounds: errors counted, and the distribution of
   the time to the first token, beside the same crowd streaming from the provider
   directly.

Figures are medians and 95th percentiles of per-call wall time; "added" compares
paired calls, so machine noise hits both sides alike. The targets (issue 11) are
printed beside them, with the machine's load average: on a busy machine every
figure grows, the direct ones too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable

from bench.__main__ import ROOT, scratch_dir, start_fake_provider

MAKE_TOKEN = (
    "from aiconfig.services.tokens import create_token; print(create_token(name='bench').secret)"
)


def pct(values: list[float], fraction: float) -> float:
    """The `fraction` percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def line(label: str, direct: list[float], *sides: list[float]) -> str:
    """One row: median and p95 of the direct calls, then what each side added to them."""
    cells = [f"{statistics.median(direct):7.2f} / {pct(direct, 0.95):7.2f}"]
    for side in sides:
        added = [s - d for s, d in zip(side, direct, strict=True)]
        cells.append(f"{statistics.median(added):7.2f} / {pct(added, 0.95):7.2f}")
    return f"{label:22} " + "   ".join(cells)


def verdict(ok: bool) -> str:
    """How a figure compares with its target."""
    return "meets the target" if ok else "MISSES the target"


def ms(fn: Callable[[], object]) -> float:
    """Wall time of one call, in milliseconds."""
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def wait_for(url: str, server: subprocess.Popen[bytes]) -> None:
    """Until uvicorn answers (or gave up)."""
    import httpx

    deadline = time.monotonic() + 120  # four workers start slowly on a busy machine
    while True:
        try:
            httpx.get(f"{url}/v1/models", timeout=1, trust_env=False)
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start") from None
            time.sleep(0.2)


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop uvicorn (and its workers), killing it if it takes too long."""
    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def start_uvicorn(
    env: dict[str, str], port: int, workers: int, app: str = "aiconfig.asgi:application"
) -> subprocess.Popen[bytes]:
    """uvicorn as `make serve` runs it, with `workers` worker processes."""
    uvicorn = [sys.executable, "-m", "uvicorn", app, "--lifespan", "off"]
    return subprocess.Popen(
        [*uvicorn, "--workers", str(workers), "--port", str(port), "--log-level", "warning"],
        env=env,
        cwd=ROOT,
    )


def http_parser() -> str:
    """What uvicorn parses HTTP with: httptools when installed (its `auto`), else h11."""
    import importlib.util

    return "httptools" if importlib.util.find_spec("httptools") else "h11 (httptools not installed)"


def token_in(data: str) -> bool:
    """Whether an SSE chunk of a chat completion carries text."""
    choices = json.loads(data).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def crowd(url: str, key: str, model: str, clients: int) -> tuple[list[float], list[str]]:
    """`clients` streamed chat completions at once: each one's time to first token, errors."""
    import httpx

    body = {"model": model, "stream": True, "messages": [{"role": "user", "content": "Hi all"}]}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=60, trust_env=False
    ) as client:
        gate = asyncio.Event()

        async def one() -> float | str:
            await gate.wait()
            start = time.perf_counter()
            first = 0.0
            try:
                async with client.stream(
                    "POST",
                    "/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                ) as response:
                    if response.status_code != 200:
                        return f"HTTP {response.status_code}"
                    done = False
                    async for line in response.aiter_lines():
                        if line == "data: [DONE]":
                            done = True
                        elif not first and line.startswith("data: ") and token_in(line[6:]):
                            first = (time.perf_counter() - start) * 1000
                    if not done:
                        return "stream ended without [DONE]"
            except httpx.HTTPError as exc:
                return type(exc).__name__
            return first if first else "no token"

        tasks = [asyncio.create_task(one()) for _ in range(clients)]
        await asyncio.sleep(0.05)
        gate.set()
        outcomes = await asyncio.gather(*tasks)
    times = [o for o in outcomes if isinstance(o, float)]
    return times, [o for o in outcomes if isinstance(o, str)]


def crowd_line(label: str, ttft: list[float], errors: list[str]) -> str:
    """One row of the crowd figures: errors, then the time to first token."""
    if not ttft:
        return f"{label:22} errors {len(errors)}: {', '.join(sorted(set(errors)))}"
    cells = " / ".join(f"{v:7.1f}" for v in (statistics.median(ttft), pct(ttft, 0.95), max(ttft)))
    errs = f"{len(errors)} ({', '.join(sorted(set(errors)))})" if errors else "0"
    return f"{label:22} {cells}   errors {errs}"


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="Measured calls per side.")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--streams", type=int, default=200, help="Clients streaming at once.")
    parser.add_argument("--rounds", type=int, default=3, help="Rounds of --streams clients.")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import openai

    fake, fake_url = start_fake_provider()
    workdir = scratch_dir("aiconfig-bench-gw-")
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
        # The caller's path too, so a package installed beside the venv reaches uvicorn.
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
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
    floor_url = f"http://127.0.0.1:{args.port + 1}"
    server = start_uvicorn(env, args.port, workers=1)
    floor = start_uvicorn(env, args.port + 1, workers=1, app="bench.gateway_floor:application")
    try:
        wait_for(url, server)
        wait_for(floor_url, floor)
        direct = openai.OpenAI(base_url=f"{fake_url}/v1", api_key="sk-bench", max_retries=0)
        bare = openai.OpenAI(base_url=f"{floor_url}/v1", api_key="sk-bench", max_retries=0)
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
            for chunk in stream:  # read to the end, as a client does
                if not elapsed and chunk.choices and chunk.choices[0].delta.content:
                    elapsed = (time.perf_counter() - start) * 1000
            return elapsed

        keys = ("d", "f", "g", "ds", "fs", "gs")
        result: dict[str, list[float]] = {k: [] for k in keys}
        for i in range(args.warmup + args.calls):
            d, f, g = ms(call(direct, "gpt-4.1")), ms(call(bare, "x")), ms(call(gateway, "text"))
            ds, fs = first_token(direct, "gpt-4.1"), first_token(bare, "x")
            gs = first_token(gateway, "text")
            if i >= args.warmup:
                for key, value in zip(keys, (d, f, g, ds, fs, gs), strict=True):
                    result[key].append(value)
        stop(server)
        stop(floor)
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"gateway bench: {args.calls} calls per side, one uvicorn worker, ms")
        print(f"machine: {os.cpu_count()} cores, load average {load} (1, 5, 15 min)")
        print(f"uvicorn's HTTP parser: {http_parser()}")
        print(f"{'med / p95':22} {'direct':>17}   {'floor added':>17}   {'gateway added':>17}")
        print(line("chat completion", result["d"], result["f"], result["g"]))
        print(line("stream first token", result["ds"], result["fs"], result["gs"]))
        above = [g - f for g, f in zip(result["gs"], result["fs"], strict=True)]
        print(
            "  the floor is uvicorn and the SDK alone (bench/gateway_floor.py); "
            f"first token, gateway above the floor: {statistics.median(above):.2f} ms median"
        )
        added = [g - d for g, d in zip(result["g"], result["d"], strict=True)]
        ttft = [g - d for g, d in zip(result["gs"], result["ds"], strict=True)]
        fast = statistics.median(added) < 3 and pct(added, 0.95) < 5
        print(f"  target: added under 3 ms median and 5 ms p95: {verdict(fast)}")
        close = statistics.median(ttft) < 2
        print(f"  target: first token within 2 ms of direct: {verdict(close)}")

        server = start_uvicorn(env, args.port, workers=4)
        wait_for(url, server)
        rows: dict[str, tuple[list[float], list[str]]] = {"direct": ([], []), "gateway": ([], [])}
        for _ in range(args.rounds):
            for side, base, key, model in (
                ("direct", f"{fake_url}/v1", "sk-bench", "gpt-4.1"),
                ("gateway", f"{url}/v1", token, "text"),
            ):
                ttfts, errors = asyncio.run(crowd(base, key, model, args.streams))
                rows[side][0].extend(ttfts)
                rows[side][1].extend(errors)
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print()
        print(f"{args.streams} clients streaming at once, {args.rounds} rounds, 4 uvicorn workers")
        print(f"machine: load average {load}")
        print(f"{'first token, ms':22} {'med / p95 / max':>25}")
        print(crowd_line("direct", *rows["direct"]))
        print(crowd_line("gateway", *rows["gateway"]))
        print(f"  target: no errors: {verdict(not rows['gateway'][1])}")
    finally:
        stop(server)
        stop(floor)
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=10)


if __name__ == "__main__":
    main()
