"""A cost, a latency and token counts read the same on the dashboard and in the terminal."""

from __future__ import annotations

import io
import math
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.template.loader import render_to_string
from django.test import Client
from django.utils import timezone

from aiconfig import formatting, presenters
from aiconfig.management.commands.ai_run import Command as AiRun
from aiconfig.models import CallLog, CallOutcome
from aiconfig.services import calls
from tests.fake_provider import FakeProvider


def test_formats_read_as_people_write_them() -> None:
    assert formatting.ms(840.4) == "840 ms"
    assert formatting.ms(2345) == "2.3 s"
    assert formatting.ms(None) == "—"
    assert formatting.usd(None) == "unknown"
    assert formatting.usd(Decimal(0)) == "$0"
    assert formatting.usd(Decimal("0.00012300")) == "$0.000123"
    assert formatting.usd(Decimal("1.25")) == "$1.2500"
    assert formatting.tokens(1234, None) == "1,234 in · ? out"
    assert formatting.tokens(None, None) == "unknown"
    assert formatting.seconds(2.5) == "2.5 s"
    assert formatting.seconds(math.nan) == "not a number"


@pytest.mark.django_db
def test_try_it_and_ai_run_show_one_run_the_same_way(wired: FakeProvider) -> None:
    run = calls.run_task(task="text", prompt="hello")
    run = type(run)(**{**{f: getattr(run, f) for f in run.__dataclass_fields__},
                       "latency_ms": 1840.0, "cost_usd": Decimal("0.0123456")})  # fmt: skip
    page = render_to_string(
        "aiconfig/tasks.html#try_result", {"result": presenters.try_result(run)}
    )
    cli = AiRun()._summary(run)
    for shown in ("1.8 s", "$0.0123", formatting.tokens(run.input_tokens, run.output_tokens)):
        assert shown in page
        assert shown in cli


@pytest.mark.django_db
def test_usage_page_and_ai_usage_show_the_same_cost_and_latency(viewer: Any) -> None:
    CallLog.objects.create(
        task="text",
        operation="text",
        provider="openai",
        model="gpt-4.1",
        attempt=1,
        outcome=CallOutcome.SUCCESS,
        latency_ms=1840.0,
        input_tokens=10,
        output_tokens=20,
        cost_usd=Decimal("0.00012345"),
        created_at=timezone.now(),
    )
    client = Client()
    client.force_login(viewer)
    html = client.get("/usage/").content.decode()
    out = io.StringIO()
    call_command("ai_usage", "--since", "1h", stdout=out)
    for shown in ("$0.000123", "1.8 s"):
        assert shown in html
        assert shown in out.getvalue()
