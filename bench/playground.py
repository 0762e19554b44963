"""Benchmark the playground's stream under uvicorn: 20 streams at once, first token's way out.

Run with `python -m bench.playground` (or `make bench-playground`). It starts the
fake provider in its own process, migrates a throwaway SQLite database (or
BENCH_DATABASE_URL), creates a user allowed to run prompts, starts uvicorn with
several workers as `make serve` does, signs in through the login page, then opens
`--streams` playground streams at once (one column each, `openai/late-first-token-
<delay>-stamped`): the fake provider holds each stream `--delay` seconds, then sends
the first word stamped with the wall-clock time it left. For each stream the bench
prints how long that token took from the provider to the client reading the SSE
(target: 100 ms), plus totals, errors, and the threads each uvicorn worker had while
every stream was open; `--rounds` times, then the totals of every round together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from bench.__main__ import ROOT, scratch_dir, start_fake_provider
from bench.gateway import pct

# Idempotent, so BENCH_DATABASE_URL may name a database an earlier run used (whose
# openai provider still points at that run's fake server).
SET_UP = (
    "from django.contrib.auth import get_user_model; from aiconfig import services; "
    "user, _ = get_user_model().objects.get_or_create(username='bench'); "
    "user.is_superuser = user.is_staff = True; user.set_password('bench-pass-123'); "
    "user.save(); services.update_provider(name='openai', base_url={url!r})"
)
STAMP_RE = re.compile(r"@(\d+\.\d+) ")
TARGET_MS = 100.0


@dataclass
class Stream:
    """What one browser-side client saw."""

    number: int
    first_token_ms: float | None = None  # provider sent it -> client read it
    opened_ms: float | None = None  # POST sent -> response headers read
    total_ms: float = 0.0
    text: str = ""
    error: str = ""
    events: list[str] = field(default_factory=list)


def sse_blocks(buffer: str) -> tuple[list[tuple[str, str]], str]:
    """Complete (event, data) blocks in `buffer`, and what is left of it."""
    blocks = []
    while "\n\n" in buffer:
        block, buffer = buffer.split("\n\n", 1)
        name, data = "message", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if data:
            blocks.append((name, data))
    return blocks, buffer


async def one_stream(client: object, number: int, form: dict[str, str]) -> Stream:
    """Post the run, read its events; time the stamped first token."""
    import json

    stream = Stream(number)
    started = time.perf_counter()
    try:
        async with client.stream("POST", "/playground/stream/", data=form) as response:  # type: ignore[attr-defined]
            stream.opened_ms = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                stream.error = f"HTTP {response.status_code}"
                return stream
            buffer = ""
            async for chunk in response.aiter_text():
                now = time.time()
                blocks, buffer = sse_blocks(buffer + chunk)
                for name, data in blocks:
                    stream.events.append(name)
                    if name != "delta":
                        continue
                    text = json.loads(data)["text"]
                    stamp = STAMP_RE.match(text)
                    if stamp and stream.first_token_ms is None:
                        stream.first_token_ms = (now - float(stamp.group(1))) * 1000
                        text = text[stamp.end() :]
                    stream.text += text
    except Exception as exc:  # counted, the run goes on
        stream.error = f"{type(exc).__name__}: {exc}"
    stream.total_ms = (time.perf_counter() - started) * 1000
    if not stream.error and stream.events[-1:] != ["done"]:
        stream.error = f"ended without 'done' after {stream.events[-3:]}"
    elif not stream.error and not stream.text.startswith("Hello from"):
        stream.error = f"no answer (text {stream.text[:40]!r})"
    return stream


def worker_threads(master: int) -> dict[int, int]:
    """Threads of each uvicorn worker process (children of the master), from /proc."""
    counts = {}
    for task in Path(f"/proc/{master}/task").iterdir():
        children = Path(f"/proc/{master}/task/{task.name}/children")
        for pid in children.read_text().split() if children.exists() else []:
            counts[int(pid)] = len(list(Path(f"/proc/{pid}/task").iterdir()))
    # With one worker, uvicorn serves from the master process itself.
    return counts or {master: len(list(Path(f"/proc/{master}/task").iterdir()))}


async def measure(url: str, args: argparse.Namespace, master: int) -> list[Stream]:
    """Sign in, then open every stream at once, `--rounds` times; every stream measured."""
    import httpx

    limits = httpx.Limits(max_connections=args.streams + 5)
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=60, trust_env=False
    ) as client:
        page = await client.get("/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        signed = await client.post(
            "/login/",
            data={
                "username": "bench",
                "password": "bench-pass-123",
                "csrfmiddlewaretoken": token.group(1),
            },
        )
        assert signed.status_code == 302, f"sign-in failed: HTTP {signed.status_code}"
        csrf = client.cookies.get("csrftoken")
        model = f"openai/late-first-token-{args.delay:g}-stamped"
        form = {
            "prompt": "Tell the benchmark something",
            "col_task": "",
            "col_model": model,
            "run": "1",
            "csrfmiddlewaretoken": csrf or "",
        }
        # Warm-up rounds of as many streams at once, on a model that answers at once:
        # every worker has imported, connected and compiled what it needs before the
        # measured round.
        warm = {**form, "col_model": "openai/gpt-4o-mini"}
        for _ in range(args.warmup):
            await asyncio.gather(*(one_stream(client, 0, warm) for _ in range(args.streams)))
        rounds = []
        for number in range(1, args.rounds + 1):
            idle = worker_threads(master)
            runs = [
                asyncio.ensure_future(one_stream(client, n, form))
                for n in range(1, args.streams + 1)
            ]
            # Half way through the provider's wait, every stream is open and waiting.
            await asyncio.sleep(args.delay / 2)
            threads = worker_threads(master)
            streams = list(await asyncio.gather(*runs))
            # Django's ASGI handler parks one thread per open request for its sync
            # middleware (asgiref's ThreadSensitiveContext); the streams' own work
            # starts none.
            print(f"round {number}: uvicorn worker threads (pid: count) idle {idle}, ", end="")
            print(f"with {args.streams} streams open {threads}")
            report(streams)
            rounds.append(streams)
    return [s for streams in rounds for s in streams]


def report(streams: list[Stream], *, per_stream: bool = True) -> None:
    """Per stream, then totals."""
    if per_stream:
        print(f"{'stream':>6} {'first token ms':>15} {'headers ms':>11} {'total ms':>9}  result")
    for s in streams if per_stream else []:
        first = f"{s.first_token_ms:.1f}" if s.first_token_ms is not None else "-"
        opened = f"{s.opened_ms:.1f}" if s.opened_ms is not None else "-"
        result = s.error or "ok"
        print(f"{s.number:>6} {first:>15} {opened:>11} {s.total_ms:>9.1f}  {result}")
    firsts = [s.first_token_ms for s in streams if s.first_token_ms is not None]
    errors = sum(1 for s in streams if s.error)
    print(f"streams: {len(streams)}, errors: {errors}")
    if firsts:
        within = sum(1 for f in firsts if f <= TARGET_MS)
        print(
            f"provider -> client first token, ms: median {statistics.median(firsts):.1f}, "
            f"p95 {pct(firsts, 0.95):.1f}, max {max(firsts):.1f}; "
            f"{within}/{len(streams)} within {TARGET_MS:.0f} ms"
        )


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=20, help="Streams opened at once.")
    # Long enough that every stream is open before the first token, even on a busy machine.
    parser.add_argument("--delay", type=float, default=2.0, help="Provider's wait, seconds.")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes.")
    parser.add_argument("--warmup", type=int, default=2)
    # Several rounds in one run: on a shared machine, one round can meet a busy moment.
    parser.add_argument("--rounds", type=int, default=3, help="Measured rounds.")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    fake, fake_url = start_fake_provider()
    workdir = scratch_dir("aiconfig-bench-pg-")
    env = {
        **os.environ,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "AICONFIG_ENV_FILE": str(workdir / "none.env"),
        "DATABASE_URL": os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
        "OPENAI_BASE_URL": f"{fake_url}/v1",
        "OPENAI_API_KEY": "sk-bench-openai-0000",
        "PYTHONPATH": str(ROOT),
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--no-input", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run([*manage, "collectstatic", "--no-input", "-v0"], env=env, check=True, cwd=ROOT)
    subprocess.run(
        [*manage, "shell", "--no-imports", "-c", SET_UP.format(url=f"{fake_url}/v1")],
        env=env,
        check=True,
        cwd=ROOT,
    )
    url = f"http://127.0.0.1:{args.port}"
    uvicorn = [sys.executable, "-m", "uvicorn", "aiconfig.asgi:application", "--lifespan", "off"]
    server = subprocess.Popen(
        [
            *uvicorn,
            "--workers",
            str(args.workers),
            "--port",
            str(args.port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        wait_for_login(url, server)
        load = os.getloadavg()
        print(
            f"playground bench: {args.streams} concurrent streams, {args.workers} uvicorn "
            f"workers, first token after {args.delay:g} s; load average before "
            f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores"
        )
        streams = asyncio.run(measure(url, args, server.pid))
        print(f"all {args.rounds} rounds:")
        report(streams, per_stream=False)
    finally:
        server.terminate()
        server.wait(timeout=10)
        if fake.stdin:
            fake.stdin.close()
        fake.wait(timeout=10)


def wait_for_login(url: str, server: subprocess.Popen[bytes]) -> None:
    """Until uvicorn serves the login page (or gave up)."""
    import httpx

    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"{url}/login/", timeout=1, trust_env=False)
            return
        except httpx.TransportError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("uvicorn did not start") from None
            time.sleep(0.2)


if __name__ == "__main__":
    main()
