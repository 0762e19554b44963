"""The Usage page and its CSV export, from real calls against the fake provider."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aiconfig import services
from aiconfig.models import CallLog, CallOutcome
from aiconfig.presenters.usage_charts import time_axis
from aiconfig.services import calls
from aiconfig.views.usage import period_start
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db


@pytest.fixture
def some_calls(wired: FakeProvider) -> None:
    calls.generate_text(prompt="one")
    calls.generate_text(prompt="two")
    services.update_task_config(
        task="text",
        provider="openai",
        model="fail-500",
        fallbacks=[("anthropic", "claude-3-haiku-20240307")],
    )
    calls.generate_text(prompt="three")


def totals(html: str) -> dict[str, str]:
    """Each totals card's label and value."""
    return dict(
        re.findall(
            r'<span class="total-label">([^<]+)</span>\s*<span class="total-value">([^<]+)</span>',
            html,
        )
    )


def test_usage_page_shows_totals_tables_charts_and_failures(
    some_calls: None, viewer: Any, client: Client
) -> None:
    client.force_login(viewer)
    html = client.get("/usage/").content.decode()
    assert '<a href="/usage/" aria-current="page">Usage</a>' in html
    # 3 calls, 4 attempts: one failed, and its call was then answered by the fallback.
    cards = totals(html)
    assert cards["Calls"] == "3"
    assert cards["Attempts failed"] == "1"
    assert cards["Calls failed for the user"] == "0"
    assert cards["Served by a fallback"] == "1"
    assert "25.0% of 4 attempts" in html
    assert "new vs before" in html  # nothing in the previous 7 days
    assert '<code title="openai/gpt-4.1">openai/gpt-4.1</code>' in html
    assert "provider_error" in html  # the latest failure, in words
    # The charts' data for the script, and the same numbers as tables.
    data = json.loads(
        re.search(
            r'<script id="usage-chart-data" type="application/json">(.*?)</script>', html, re.S
        )[1]  # type: ignore[index]
    )
    assert data["step"] == "day"
    assert [s["label"] for s in data["cost"]["series"]] == ["text"]
    assert len(data["cost"]["x"]) == 7
    assert {s["label"] for s in data["latency"]["series"]} == {
        "openai/gpt-4.1",
        "openai/fail-500",
        "anthropic/claude-3-haiku-20240307",
    }
    assert html.count("<summary>The numbers</summary>") == 2
    for heading in ("Cost per task", "By source", "By user", "By API token", "Prompt caching"):
        assert heading in html
    assert "Code (code)" in html
    assert "no user (code, CLI, API)" in html
    assert "not through the gateway" in html


def test_each_row_links_to_the_calls_behind_it(
    some_calls: None, viewer: Any, client: Client
) -> None:
    client.force_login(viewer)
    html = client.get("/usage/?period=30d&task=text").content.decode()
    links = re.findall(r'href="(/calls/\?[^"]+)"', html)
    assert len(links) == 3
    query = dict(re.findall(r"([a-z]+)=([^&]*)", links[0].replace("&amp;", "&")))
    assert query["task"] == "text"
    assert {query["provider"], query["model"]} <= {"anthropic", "claude-3-haiku-20240307",
                                                   "openai", "gpt-4.1", "fail-500"}  # fmt: skip
    assert query["since"].startswith(period_start("30d").date().isoformat())
    assert "until" in query


def test_usage_csv_has_the_cli_columns(some_calls: None, viewer: Any, client: Client) -> None:
    client.force_login(viewer)
    response = client.get("/usage/export.csv?period=24h&task=text")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_route = {(r["provider"], r["model"]): r for r in rows}
    assert by_route[("openai", "gpt-4.1")]["calls"] == "2"
    assert by_route[("openai", "fail-500")]["errors"] == "1"
    assert by_route[("openai", "fail-500")]["failed_calls"] == "0"
    assert by_route[("anthropic", "claude-3-haiku-20240307")]["fallbacks"] == "1"


def test_usage_page_ignores_unknown_filters_and_needs_a_login(viewer: Any, client: Client) -> None:
    assert client.get("/usage/").status_code == 302
    client.force_login(viewer)
    response = client.get("/usage/?period=forever&task=<script>")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<option value="7d" selected>' in html
    assert "<script>" not in html.split("<main", 1)[1]
    assert "No calls in this period" in html


@pytest.mark.parametrize(
    ("query", "error"),
    [
        ("from=2026-11-20&to=2026-11-01", "The range ends (2026-11-01) before it starts"),
        ("from=2026-11-01", "A custom range needs both a From and a To date."),
        ("from=2026-13-01&to=2026-11-02", "From: Enter a valid date."),
        ("from=2024-01-01&to=2026-11-01", "Choose at most 366 days"),
        ("from=2999-01-01&to=2999-01-02", "2999-01-01 is in the future"),
    ],
)
def test_a_bad_custom_range_is_refused_clearly_and_the_period_still_shows(
    viewer: Any, client: Client, query: str, error: str
) -> None:
    client.force_login(viewer)
    html = client.get(f"/usage/?period=30d&{query}").content.decode()
    assert error in html
    assert "Showing last 30 days instead." in html
    assert '<option value="30d" selected>' in html
    assert 'aria-invalid="true"' in html


def test_a_custom_range_counts_whole_days_both_included(viewer: Any, client: Client) -> None:
    today = timezone.localdate()
    first = today - timedelta(days=3)
    for days_ago in (4, 3, 1):  # the day before the range, its first day, a day in it
        CallLog.objects.create(
            created_at=timezone.now() - timedelta(days=days_ago),
            task="text",
            operation="text",
            provider="openai",
            model="gpt-4.1",
            attempt=1,
            outcome=CallOutcome.SUCCESS,
            latency_ms=10.0,
        )
    client.force_login(viewer)
    html = client.get(f"/usage/?from={first:%Y-%m-%d}&to={today:%Y-%m-%d}").content.decode()
    assert totals(html)["Calls"] == "2"
    assert f"{first:%b %-d, %Y} to {today:%b %-d, %Y}" in html
    assert f'value="{first:%Y-%m-%d}"' in html  # the range is shown again in the form
    assert f"from={first:%Y-%m-%d}" in html  # ... and the CSV link keeps it


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_last_n_days_is_n_bars_ending_today(period: str, days: int) -> None:
    axis = time_axis(since=period_start(period), until=timezone.now(), step="day")
    assert len(axis) == days
    assert axis[-1] == timezone.localdate()
    assert axis[0] == timezone.localdate() - timedelta(days=days - 1)


def test_the_totals_count_the_days_the_chart_shows(viewer: Any, client: Client) -> None:
    start = period_start("7d")
    for when in (start, start - timedelta(seconds=1)):
        CallLog.objects.create(
            created_at=when,
            task="text",
            operation="text",
            provider="openai",
            model="gpt-4.1",
            attempt=1,
            outcome=CallOutcome.SUCCESS,
            latency_ms=10.0,
        )
    client.force_login(viewer)
    html = client.get("/usage/?period=7d").content.decode()
    # The first bar's day is in, the day before it (an 8th bar's worth) is not.
    assert totals(html)["Calls"] == "1"
    # ... it is in the previous period, which has as many calls.
    calls_card = html.split('<span class="total-label">Calls</span>', 1)[1]
    assert calls_card.split("</div>", 1)[0].count("no change vs before") == 1
    data = json.loads(
        re.search(
            r'<script id="usage-chart-data" type="application/json">(.*?)</script>', html, re.S
        )[1]  # type: ignore[index]
    )
    assert len(data["cost"]["x"]) == 7


def test_the_last_24_hours_are_charted_per_hour(
    some_calls: None, viewer: Any, client: Client
) -> None:
    client.force_login(viewer)
    html = client.get("/usage/?period=24h").content.decode()
    assert "Cost per hour by task" in html
    assert "the 24 hours before" in html


def test_the_latest_failures_keep_to_the_task_and_the_range(viewer: Any, client: Client) -> None:
    for task, days_ago in (("agent", 1), ("text", 1), ("text", 10)):
        CallLog.objects.create(
            created_at=timezone.now() - timedelta(days=days_ago),
            task=task,
            operation="text",
            provider="openai",
            model="gpt-4.1",
            attempt=1,
            outcome=CallOutcome.ERROR,
            error_kind="rate_limited",
            error_message=f"{task} {days_ago} days ago: rate limited",
            latency_ms=10.0,
        )
    client.force_login(viewer)
    html = client.get("/usage/?period=7d&task=text").content.decode()
    assert "text 1 days ago" in html
    assert "agent 1 days ago" not in html  # another task
    assert "text 10 days ago" not in html  # before the period
    day = timezone.localdate() - timedelta(days=10)
    html = client.get(f"/usage/?from={day:%Y-%m-%d}&to={day:%Y-%m-%d}").content.decode()
    assert "text 10 days ago" in html
    assert "text 1 days ago" not in html  # after the range
