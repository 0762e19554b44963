"""Alerts: sent once per threshold per period (or rule window), by email and webhook."""

from __future__ import annotations

import io
import json
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.core.management import call_command

from aiconfig.models import CallLog, SentAlert
from aiconfig.selectors import budgets as budget_reads
from aiconfig.services import calls
from aiconfig.services.alerts import check_alerts
from aiconfig.services.budgets import save_alert_rule, save_budget
from tests.conftest import FAKE_KEYS
from tests.fake_provider import FakeProvider
from tests.test_budgets import spend

NOW = datetime(2026, 5, 20, 12, 7, tzinfo=UTC)


class Recorder:
    """A local webhook receiver: the bodies it was sent."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                recorder.bodies.append(self.rfile.read(length))
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    hook = Recorder()
    yield hook
    hook.server.shutdown()
    hook.server.server_close()


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Set the clock budgets and rules read: `frozen(datetime)`."""

    def to(when: datetime) -> None:
        monkeypatch.setattr(budget_reads, "now_utc", lambda: when)

    to(NOW)
    return to


def logged(task: str, outcome: str, latency_ms: float, at: datetime) -> None:
    CallLog.objects.create(
        created_at=at,
        request_id=uuid.uuid4(),
        task=task,
        operation="text",
        provider="openai",
        model="gpt-4o-mini",
        attempt=1,
        is_fallback=False,
        outcome=outcome,
        latency_ms=latency_ms,
        source="code",
    )


@pytest.mark.django_db
def test_a_budget_warns_once_then_alerts_once_when_exceeded(frozen: Any) -> None:
    save_budget(task="text", amount_usd="10", warn_at_percent=80, email_to="ops@example.com")
    spend("text", "8", at=NOW)
    [warning] = check_alerts()
    assert warning.kind == "budget_warning"
    assert check_alerts() == []  # once per threshold per period
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ops@example.com"]
    assert "monthly budget of task 'text' is 80% spent ($8.0000 of $10.0000" in mail.outbox[0].body

    spend("text", "3", at=NOW)
    [exceeded] = check_alerts()
    assert exceeded.kind == "budget_exceeded"
    assert check_alerts() == []
    assert len(mail.outbox) == 2
    assert "calls go on (the budget only warns)" in mail.outbox[1].body
    assert SentAlert.objects.count() == 2


@pytest.mark.django_db
def test_the_next_period_warns_again(frozen: Any) -> None:
    save_budget(task="text", amount_usd="10", period="daily", email_to="ops@example.com")
    spend("text", "9", at=NOW)
    assert len(check_alerts()) == 1
    frozen(NOW + timedelta(days=1))
    assert check_alerts() == []  # yesterday's spend: nothing to say today
    spend("text", "9", at=NOW + timedelta(days=1))
    [again] = check_alerts()
    assert again.period_start == datetime(2026, 5, 21, tzinfo=UTC)
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_a_failure_rate_rule_fires_once_per_window(frozen: Any) -> None:
    save_alert_rule(
        name="text-failing", task="text", metric="failure_rate", threshold=20, window_minutes=10
    )
    for minute in range(8):
        logged("text", "success", 100, NOW - timedelta(minutes=minute))
    logged("text", "error", 100, NOW - timedelta(minutes=1))
    logged("agent", "error", 100, NOW - timedelta(minutes=1))  # another task
    for _ in range(5):
        logged("text", "error", 100, NOW - timedelta(minutes=30))  # before the window
    assert check_alerts() == []  # 1 of 9: 11%

    logged("text", "timed_out", 100, NOW - timedelta(minutes=2))
    logged("text", "error", 100, NOW - timedelta(minutes=2))
    [alert] = check_alerts()  # 3 of 11: 27%
    assert "failure rate of task 'text' over the last 10 min is 27.3%" in alert.message
    assert alert.period_start == datetime(2026, 5, 20, 12, 0, tzinfo=UTC)
    assert check_alerts() == []  # the same window
    frozen(NOW + timedelta(minutes=5))  # 12:12, the next 10-minute window
    assert len(check_alerts()) == 1


@pytest.mark.django_db
def test_a_p95_latency_rule_reads_successful_attempts_of_the_window(frozen: Any) -> None:
    save_alert_rule(name="slow", metric="p95_latency", threshold=2000, window_minutes=15)
    for i in range(19):
        logged("text", "success", 300 + i, NOW - timedelta(minutes=3))
    logged("agent", "success", 2500, NOW - timedelta(minutes=3))
    logged("text", "error", 90_000, NOW - timedelta(minutes=3))  # failures don't count
    assert check_alerts() == []  # p95 of 20 is the 19th: 318 ms
    logged("image", "success", 5000, NOW - timedelta(minutes=1))
    [alert] = check_alerts()
    assert "p95 latency of all tasks over the last 15 min is 2500 ms" in alert.message


@pytest.mark.django_db
def test_the_webhook_gets_the_figures_and_never_a_key(
    wired: FakeProvider, recorder: Recorder, endpoint_admin: Any
) -> None:
    save_budget(task="text", amount_usd="0.01", webhook_url=recorder.url, user=endpoint_admin)
    spend("text", "0.009")
    calls.generate_text(prompt="hello", task="text")
    [alert] = check_alerts()
    assert alert.delivery == "webhook sent"
    [body] = recorder.bodies
    payload = json.loads(body)
    assert payload["kind"] == "budget_warning"
    assert payload["task"] == "text"
    assert payload["amount_usd"] == "0.01"
    assert payload["action"] == "warn"
    for key in FAKE_KEYS.values():
        assert key not in body.decode()
    assert "hello" not in body.decode()


@pytest.mark.django_db
def test_a_dead_webhook_is_noted_and_not_retried(endpoint_admin: Any) -> None:
    save_budget(amount_usd="1", webhook_url="http://127.0.0.1:9/hook", user=endpoint_admin)
    spend("text", "2")
    [alert] = check_alerts()
    assert alert.delivery.startswith("webhook failed: ")
    assert check_alerts() == []


@pytest.mark.django_db
def test_the_cron_command_sends_and_lists(frozen: Any) -> None:
    out = io.StringIO()
    call_command(
        "ai_alerts", "rule", "errors", "--metric", "failure_rate", "--above", "50", stdout=out
    )
    save_budget(task="text", amount_usd="1", email_to="ops@example.com")
    spend("text", "1", at=NOW)
    out = io.StringIO()
    call_command("ai_alerts", "check", "--json", stdout=out)
    [sent] = json.loads(out.getvalue())["sent"]
    assert sent["kind"] == "budget_exceeded"
    assert sent["delivery"] == "email sent to 1"
    out = io.StringIO()
    call_command("ai_alerts", "check", stdout=out)
    assert out.getvalue().strip() == "No alert due."
    out = io.StringIO()
    call_command("ai_alerts", "list", "--json", stdout=out)
    listed = json.loads(out.getvalue())
    assert [r["name"] for r in listed["rules"]] == ["errors"]
    assert listed["rules"][0]["firing"] is False
    assert len(listed["sent"]) == 1


@pytest.mark.django_db(transaction=True)
def test_alerts_are_checked_after_calls_in_the_background_at_most_once_a_minute(
    wired: FakeProvider, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from aiconfig.services import alerts

    settings.AICONFIG_ALERTS_AFTER_CALLS_SECONDS = 60
    monkeypatch.setattr(alerts, "_last_check", float("-inf"))
    started: list[threading.Thread] = []
    real_thread = threading.Thread

    def recording_thread(*args: Any, **kwargs: Any) -> threading.Thread:
        thread = real_thread(*args, **kwargs)
        started.append(thread)
        return thread

    monkeypatch.setattr(alerts.threading, "Thread", recording_thread)
    save_budget(task="text", amount_usd="1", email_to="ops@example.com")
    spend("text", "0.9")

    calls.generate_text(prompt="hello", task="text")
    calls.wait_for_call_log()
    [check] = [t for t in started if t.name == "aiconfig-alerts"]
    # The check reads while no call writes: an in-memory test database's shared cache
    # fails a reader at once ("table is locked") while another connection writes.
    check.join(timeout=30)
    calls.generate_text(prompt="hello again", task="text")  # within the minute: no check
    calls.wait_for_call_log()

    assert [t for t in started if t.name == "aiconfig-alerts"] == [check]
    [alert] = SentAlert.objects.all()
    assert alert.kind == "budget_warning"
    assert len(mail.outbox) == 1
