"""CSV exports never hand a spreadsheet a formula (OWASP CSV injection), on the page or the CLI."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from aiconfig.exports import csv_cell
from aiconfig.models import CallLog

pytestmark = pytest.mark.django_db

ATTACK = '=HYPERLINK("http://x.test","click")'


@pytest.fixture
def poisoned_log() -> None:
    """The attacker got formula-shaped names into the call log (a task they called)."""
    for model in (ATTACK, "@SUM(A1:A9)", "+1+cmd|' /C calc'!A0", "\t=1+1"):
        CallLog.objects.create(
            task="text",
            operation="text",
            provider="openai",
            model=model,
            attempt=1,
            outcome="success",
            latency_ms=250.0,
            input_tokens=10,
            output_tokens=5,
            cost_usd=Decimal("0.0015"),
        )


def _check_rows(text: str) -> None:
    rows = list(csv.DictReader(io.StringIO(text)))
    models = {row["model"] for row in rows}
    assert models == {"'" + ATTACK, "'@SUM(A1:A9)", "'+1+cmd|' /C calc'!A0", "'\t=1+1"}
    for row in rows:
        # Every cell a spreadsheet would evaluate is quoted; numbers are left as numbers.
        assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in row.values())
        assert row["calls"] == "1"
        assert row["cost_usd"] == "0.0015"
        assert row["p50_latency_ms"] == "250.0"


def test_page_export_neutralises_formulas(poisoned_log: None, viewer: Any, client: Client) -> None:
    client.force_login(viewer)
    response = client.get("/usage/export.csv?period=24h")
    assert response.status_code == 200
    _check_rows(response.content.decode())


def test_cli_export_neutralises_formulas(poisoned_log: None) -> None:
    out = io.StringIO()
    call_command("ai_usage", "--since", "24h", "--csv", stdout=out)
    _check_rows(out.getvalue())


def test_csv_cell_quotes_only_formula_like_text() -> None:
    assert csv_cell("=1+1") == "'=1+1"
    assert csv_cell("\r=1") == "'\r=1"
    assert csv_cell("gpt-4.1") == "gpt-4.1"
    assert csv_cell("-0.5") == "-0.5"  # a number written as text stays a number
    assert csv_cell(-3) == -3
    assert csv_cell(None) is None
