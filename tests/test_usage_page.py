"""The Usage page and its CSV export, from real calls against the fake provider."""

from __future__ import annotations

import csv
import io
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aiconfig import presenters, selectors, services
from aiconfig.models import CallLog, CallOutcome
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


def test_usage_page_shows_totals_table_chart_and_failures(
    some_calls: None, viewer: Any, client: Client
) -> None:
    client.force_login(viewer)
    html = client.get("/usage/").content.decode()
    assert '<a href="/usage/" aria-current="page">Usage</a>' in html
    # 4 attempts: two answers, one failure, one fallback answer.
    assert '<span class="total-value">4</span>' in html
    assert '<span class="total-value total-error">1</span>' in html
    assert "25.0%" in html
    assert '<code title="openai/gpt-4.1">openai/gpt-4.1</code>' in html
    assert (
        '<code title="anthropic/claude-3-haiku-20240307">anthropic/claude-3-haiku-20240307</code>'
        in html
    )
    assert "provider_error" in html  # the latest failure, in words
    assert 'role="img"' in html
    assert 'class="bar-error"' in html


def test_usage_csv_has_the_cli_columns(some_calls: None, viewer: Any, client: Client) -> None:
    client.force_login(viewer)
    response = client.get("/usage/export.csv?period=24h&task=text")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    by_route = {(r["provider"], r["model"]): r for r in rows}
    assert by_route[("openai", "gpt-4.1")]["calls"] == "2"
    assert by_route[("openai", "fail-500")]["errors"] == "1"
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


@pytest.mark.parametrize(("period", "days"), [("7d", 7), ("30d", 30), ("90d", 90)])
def test_last_n_days_is_n_bars_ending_today(period: str, days: int) -> None:
    buckets = selectors.usage_by_day(since=period_start(period))
    assert len(buckets) == days
    assert buckets[-1].day == timezone.localdate()
    assert buckets[0].day == timezone.localdate() - timedelta(days=days - 1)


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
    assert '<span class="total-value">1</span>' in html
    assert html.count("<g>") == 7


def test_chart_labels_today_and_keeps_every_label_inside_the_chart() -> None:
    today = timezone.localdate()
    buckets = [
        selectors.DailyUsage(
            day=today - timedelta(days=n), calls=1, errors=0, fallbacks=0, cost_usd=Decimal(0)
        )
        for n in range(89, -1, -1)
    ]
    bars = presenters.usage_view([], buckets, []).bars
    labelled = [b for b in bars if b.show_label]
    positions = [i for i, b in enumerate(bars) if b.show_label]
    assert bars[-1].show_label
    assert (bars[-1].label_x, bars[-1].label_anchor) == (presenters.CHART_WIDTH, "end")
    for bar in labelled:
        half = presenters.LABEL_HALF_WIDTH
        left = {"start": bar.label_x, "middle": bar.label_x - half, "end": bar.label_x - 2 * half}
        assert 0 <= left[bar.label_anchor] <= presenters.CHART_WIDTH - 2 * half
    # Evenly spaced: no two labels on top of each other.
    assert len({b - a for a, b in itertools.pairwise(positions)}) == 1
