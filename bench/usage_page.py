"""Benchmark: the Usage page on a big call log, read through the rollup.

Run with `make bench-usage` (or `python -m bench.usage_page --rows 1000000`). It
migrates a throwaway SQLite database (or the one in BENCH_DATABASE_URL), writes
`--rows` call-log rows over 90 days directly (8 tasks on 12 models, 3% of calls
falling back; users on dashboard calls, tokens on gateway calls), rebuilds the rollup,
then times the whole page (`GET /usage/`, rendered, signed in) for 7 and 90 days and
`ai_usage --json` for 90 days, and beside them the same summary read from the call log alone.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta

from bench.__main__ import ROOT, scratch_dir

PLAIN_STATIC = "django.contrib.staticfiles.storage.StaticFilesStorage"


def main() -> None:
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="Call-log rows to write.")
    parser.add_argument("--repeat", type=int, default=5, help="Timed runs per report.")
    args = parser.parse_args()
    workdir = scratch_dir("aiconfig-bench-usage-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        DEBUG="0",
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS="testserver",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client, override_settings
    from django.utils import timezone

    from aiconfig.models import CallLog, UsageRollup
    from aiconfig.selectors import _usage_summary_from_log
    from aiconfig.services.rollup import rebuild_rollup

    call_command("migrate", verbosity=0)
    rng = random.Random(1)
    tasks = ["text", "agent", "image", "summary", "chat", "extract", "translate", "classify"]
    models = [f"model-{n}" for n in range(12)]
    # Like a real install: each task has its primary and a fallback model; dashboard and
    # playground calls have a user, gateway calls a token, code and CLI calls neither.
    chains = {task: (models[i], models[(i + 5) % 12]) for i, task in enumerate(tasks)}
    users = [get_user_model().objects.create_user(username=f"user{n}").pk for n in range(5)]
    user = get_user_model().objects.create_user(username="bench", password="bench-pass-123")
    now = timezone.now()
    started = time.perf_counter()
    batch: list[CallLog] = []
    written_rows = 0

    def attempt(request: uuid.UUID, when: object, task: str, number: int, ok: bool,
                source: str, who: int | None, token: str) -> CallLog:  # fmt: skip
        return CallLog(
            request_id=request,
            created_at=when,
            task=task,
            operation="text",
            provider="openai",
            model=chains[task][number - 1],
            attempt=number,
            is_fallback=number > 1,
            outcome="success" if ok else "error",
            latency_ms=rng.lognormvariate(6, 1),
            input_tokens=rng.randint(10, 2000),
            output_tokens=rng.randint(10, 500),
            cost_usd=rng.randint(1, 100_000) / 10**8 if ok else None,
            source=source,
            user_id=who,
            api_token=token,
        )

    while True:
        request, when = uuid.uuid4(), now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        task = rng.choice(tasks)
        source = rng.choice(["code", "code", "code", "cli", "ui", "playground", "api", "api"])
        who = rng.choice(users) if source in ("ui", "playground") else None
        token = rng.choice(["billing-app", "search-app", "mobile"]) if source == "api" else ""
        if rng.random() < 0.03:  # the primary fails; the fallback answers (mostly)
            batch.append(attempt(request, when, task, 1, False, source, who, token))
            batch.append(attempt(request, when, task, 2, rng.random() < 0.9, source, who, token))
        else:
            batch.append(attempt(request, when, task, 1, True, source, who, token))
        if len(batch) >= 20_000 or written_rows + len(batch) >= args.rows:
            CallLog.objects.bulk_create(batch)
            written_rows += len(batch)
            batch.clear()
            if written_rows >= args.rows:
                break
    written = time.perf_counter() - started
    started = time.perf_counter()
    rebuild_rollup()
    rebuilt = time.perf_counter() - started
    print(f"backend: {django.db.connection.vendor}; {args.rows:,} call-log rows over 90 days")
    print(f"written in {written:.1f} s; rollup rebuilt in {rebuilt:.1f} s: "
          f"{UsageRollup.objects.count():,} rollup rows")  # fmt: skip

    # The page as served, minus the collected-static manifest a throwaway setup lacks.
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}
    override_settings(STORAGES=storages).enable()
    client = Client()
    client.force_login(user)

    def page(period: str) -> None:
        response = client.get(f"/usage/?period={period}", secure=True)
        assert response.status_code == 200, response.status_code

    def cli() -> None:
        call_command("ai_usage", "--since", "90d", "--json", stdout=io.StringIO())

    def log_only() -> None:
        _usage_summary_from_log(since=now - timedelta(days=90))

    def timed(work: object) -> list[float]:
        times = []
        for _ in range(args.repeat):
            begun = time.perf_counter()
            work()  # type: ignore[operator]
            times.append((time.perf_counter() - begun) * 1000)
        return times

    page("7d")  # warm up: templates, the configuration snapshot
    if os.environ.get("BENCH_PROFILE"):
        import cProfile
        import pstats

        cProfile.runctx('page("90d")', globals(), locals(), str(workdir / "profile"))
        pstats.Stats(str(workdir / "profile")).sort_stats("tottime").print_stats(20)
    print(f"{'':44}{'median':>10}{'min':>10}")
    for label, work in (
        ("Usage page, 7 days", lambda: page("7d")),
        ("Usage page, 90 days", lambda: page("90d")),
        ("ai_usage --since 90d --json", cli),
        ("the 90-day summary from the call log alone", log_only),
    ):
        times = timed(work)
        print(f"{label:44}{statistics.median(times):>8.0f}ms{min(times):>8.0f}ms")


if __name__ == "__main__":
    main()
