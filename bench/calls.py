"""Benchmark: the call explorer and the admin's call-log list on a big call log.

Run with `make bench-calls` (or `python -m bench.calls --rows 1000000`). It migrates a
throwaway SQLite database (or the one in BENCH_DATABASE_URL, e.g. PostgreSQL), fills
the call log inside the database (90 days, 8 tasks, 12 models, 3% failures, a few
calls with a fallback attempt), then times, in one run, the pages a person opens:
the explorer's first page unfiltered and per filter, a page deep in the log, a call's
page, the first chunk of the CSV, and the admin's list as it is now beside the admin
as it was (date hierarchy and DISTINCT filters). Figures are medians of `--repeat`
requests through Django's test client (rendering included).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

from bench.__main__ import ROOT, scratch_dir

TASKS = ["text", "image", "video-slides", "agent", "summaries", "tags", "triage", "search"]
MODELS = [
    ("openai", "gpt-4.1"), ("openai", "gpt-4o-mini"), ("openai", "gpt-4o"),
    ("openai", "o3-mini"), ("openai", "dall-e-3"), ("openai", "gpt-image-1"),
    ("anthropic", "claude-sonnet-4-0"), ("anthropic", "claude-3-5-haiku-latest"),
    ("anthropic", "claude-opus-4-0"), ("gemini", "gemini-2.0-flash"),
    ("gemini", "gemini-2.5-pro"), ("ollama", "llama3.2"),
]  # fmt: skip
SOURCES = ["code"] * 6 + ["api"] * 3 + ["playground"]


def _case(expression: str, values: list[str]) -> str:
    """SQL choosing values[expression % len] (no arrays on SQLite)."""
    whens = " ".join(f"WHEN {i} THEN '{v}'" for i, v in enumerate(values))
    return f"CASE ({expression}) % {len(values)} {whens} END"


def fill(rows: int, vendor: str) -> None:
    """`rows` call-log rows, written by the database itself (seconds, not hours)."""
    from django.db import connection

    if vendor == "postgresql":
        series = f"SELECT g AS i FROM generate_series(1, {rows}) g"
        when = f"now() - (i * interval '90 days' / {rows})"
        request_id = "gen_random_uuid()"
    else:
        series = (
            f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {rows}) "
            "SELECT i FROM s"
        )
        ago = f"'-' || (i * 7776000.0 / {rows}) || ' seconds'"
        when = f"strftime('%Y-%m-%d %H:%M:%f', 'now', {ago})"
        request_id = "lower(hex(randomblob(16)))"
    providers = _case("i * 7", [p for p, _ in MODELS])
    models = _case("i * 7", [m for _, m in MODELS])
    failed = "(i % 33 = 0)"
    sql = f"""
        INSERT INTO aiconfig_calllog (request_id, created_at, task, operation, provider,
            model, response_model, attempt, is_fallback, outcome, error_kind,
            error_message, latency_ms, input_tokens, output_tokens, image_count,
            cost_usd, source, prompt, response, api_token)
        SELECT {request_id}, {when}, {_case("i", TASKS)}, 'text', {providers}, {models}, '',
            1, {"false" if vendor == "postgresql" else "0"},
            CASE WHEN {failed} THEN 'error' ELSE 'success' END,
            CASE WHEN {failed} THEN 'rate_limited' ELSE '' END,
            CASE WHEN {failed} THEN 'openai: rate limited (HTTP 429)' ELSE '' END,
            200 + (i * 37) % 3000, 20 + i % 900, 10 + i % 400, 0,
            CASE WHEN {failed} THEN NULL ELSE 0.0001 * (1 + i % 50) END,
            {_case("i * 3", SOURCES)}, '', '', ''
        FROM ({series}) AS numbers
    """
    with connection.cursor() as cursor:
        cursor.execute(sql)
        cursor.execute("ANALYZE" if vendor != "postgresql" else "ANALYZE aiconfig_calllog")


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median milliseconds of `action`, after one warm-up."""
    action()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    """Set up, fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--reuse", action="store_true",
        help="Keep the rows already in BENCH_DATABASE_URL's call log (no refill).",
    )  # fmt: skip
    args = parser.parse_args()
    workdir = scratch_dir("aiconfig-bench-calls-")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="aiconfig.settings",
        # Development settings: plain static files (no collected manifest) and no
        # HTTPS redirect; Django keeps only the last 9,000 queries, so memory stays flat.
        DEBUG="1",
        SECRET_KEY="bench-only",
        ALLOWED_HOSTS="testserver",
        AICONFIG_ENV_FILE=str(workdir / "none.env"),
        DATABASE_URL=os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{workdir / 'bench.db'}"),
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from aiconfig.admin.history import CallLogAdmin
    from aiconfig.models import CallLog

    call_command("migrate", verbosity=0)
    vendor = connection.vendor
    started = time.perf_counter()
    if args.reuse and CallLog.objects.exists():
        print(f"Reusing the call log on {vendor} ({CallLog.objects.count():,} rows)")
    else:
        fill(args.rows, vendor)
        took = time.perf_counter() - started
        print(f"{args.rows:,} call-log rows on {vendor}, written in {took:.0f} s")
    user, _ = get_user_model().objects.get_or_create(
        username="bench", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(user)
    some_call = CallLog.objects.order_by("-created_at", "-id").values_list("request_id").first()
    assert some_call is not None

    def get(url: str) -> Callable[[], object]:
        def fetch() -> object:
            response = client.get(url, secure=True)  # production settings redirect plain HTTP
            assert response.status_code == 200, (url, response.status_code)
            if response.streaming:
                first = next(iter(response.streaming_content))
                response.close()  # as a server does; an abandoned generator holds a query
                return first
            return response.content

        return fetch

    def deep_page() -> object:
        response = client.get("/calls/", secure=True)
        for _ in range(20):  # Older, twenty times: the 21st page
            cursor = response.content.decode().split('rel="next" href="?before=')[1].split('"')[0]
            response = client.get(f"/calls/?before={cursor}", secure=True)
        return response

    explorer = [
        ("first page, no filter", "/calls/"),
        ("task=agent", "/calls/?task=agent"),
        ("provider+model", "/calls/?provider=anthropic&model=claude-opus-4-0"),
        ("outcome=error (3%)", "/calls/?outcome=error"),
        ("source=playground (10%)", "/calls/?source=playground"),
        ("since/until: one day 30 days ago", None),
        ("a call's page", f"/calls/{some_call[0]}/"),
        ("CSV, first 500 rows", "/calls/export.csv?task=text"),
    ]
    print(f"\nCall explorer (median of {args.repeat}, ms):")
    from datetime import timedelta

    from django.utils import timezone

    day = (timezone.now() - timedelta(days=30)).date()
    for label, url in explorer:
        url = url or f"/calls/?since={day}&until={day}"
        print(f"  {label:<36} {timed(get(url), args.repeat):9.1f}")
    print(f"  {'21st page (20 x Older)':<36} {timed(deep_page, 1) / 21:9.1f}  per page")

    print(f"\nAdmin call-log list (median of {args.repeat}, ms):   now    as it was")
    old = {
        "date_hierarchy": "created_at",
        "list_filter": ("outcome", "task", "provider", "source", "api_token", "is_fallback",
                        "error_kind"),
        "show_full_result_count": True,
        "paginator": __import__("django.core.paginator", fromlist=["Paginator"]).Paginator,
    }  # fmt: skip
    for label, url in [
        ("unfiltered", "/admin/aiconfig/calllog/"),
        ("task=agent", "/admin/aiconfig/calllog/?task=agent"),
    ]:
        now = timed(get(url), args.repeat)
        saved = {name: getattr(CallLogAdmin, name) for name in old}
        for name, value in old.items():
            setattr(CallLogAdmin, name, value)
        try:
            then = timed(get(url.replace("?task=", "?task__exact=")), args.repeat)
        finally:
            for name, value in saved.items():
                setattr(CallLogAdmin, name, value)
        print(f"  {label:<36} {now:9.1f} {then:9.1f}  ({then / now:.0f}x)")


if __name__ == "__main__":
    main()
