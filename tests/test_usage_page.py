"""The Usage page and its CSV export, from real calls against the fake provider."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.test import Client

from aiconfig import services
from aiconfig.services import calls
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
    assert "<code>openai/gpt-4.1</code>" in html
    assert "<code>anthropic/claude-3-haiku-20240307</code>" in html
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
