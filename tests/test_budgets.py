"""Budgets: a spent `stop` budget refuses calls before any request; warnings, checks, CLI."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import openai
import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import F
from django.test import Client

from aiconfig import checks
from aiconfig.latency import hour_of
from aiconfig.models import CallLog, ConfigChange, UsageRollup
from aiconfig.selectors import budgets as budget_reads
from aiconfig.selectors.budgets import budget_statuses, period_bounds
from aiconfig.services import calls
from aiconfig.services.budgets import delete_budget, save_budget
from aiconfig.services.calls import TaskFailed
from aiconfig.services.tokens import create_token
from tests.fake_provider import FakeProvider


def spend(task: str, usd: str, *, at: datetime | None = None) -> None:
    """Spend as the rollup records it (what budgets read)."""
    row, _ = UsageRollup.objects.get_or_create(
        hour=hour_of(at or datetime.now(UTC)),
        task=task,
        operation="text",
        provider="openai",
        model="gpt-4o-mini",
        outcome="success",
        source="code",
    )
    cost = int(Decimal(usd) * 100_000_000)
    UsageRollup.objects.filter(pk=row.pk).update(
        attempts=F("attempts") + 1, calls=F("calls") + 1, cost_e8=F("cost_e8") + cost
    )


@pytest.mark.django_db
def test_a_spent_stop_budget_refuses_calls_before_any_request(wired: FakeProvider) -> None:
    save_budget(task="text", amount_usd="1", action="stop")
    calls.generate_text(prompt="hello", task="text")  # under budget: goes through
    assert len(wired.requests) == 1
    spend("text", "1.5")
    budget_reads.clear_budget_cache()  # another process's spend, once its cache is stale
    wired.reset()

    with pytest.raises(TaskFailed) as raised:
        calls.generate_text(prompt="hello", task="text")

    assert wired.requests == []
    assert raised.value.budget_exceeded
    assert "monthly budget of task 'text' is spent" in str(raised.value)
    row = CallLog.objects.get(request_id=raised.value.request_id)
    assert (row.outcome, row.error_kind, row.cost_usd) == ("error", "budget_exceeded", None)
    # Other tasks are not covered by the text budget.
    calls.generate_text(prompt="hello", task="agent")
    assert len(wired.requests) == 1


@pytest.mark.django_db
def test_an_overall_stop_budget_covers_every_task_and_a_warn_budget_stops_nothing(
    wired: FakeProvider,
) -> None:
    spend("agent", "3")
    save_budget(task="text", amount_usd="1", action="warn")
    calls.generate_text(prompt="hello", task="text")  # warn only: no block
    save_budget(amount_usd="2", action="stop", period="daily")
    wired.reset()
    with pytest.raises(TaskFailed) as raised:
        calls.generate_text(prompt="hello", task="text")
    assert "daily overall budget is spent" in str(raised.value)
    assert wired.requests == []


@pytest.mark.django_db
def test_a_process_sees_its_own_spend_at_once(wired: FakeProvider) -> None:
    """No waiting for the cache: the process's own calls add to the spend it holds."""
    save_budget(task="text", amount_usd="0.01", action="stop")
    spend("text", "0.00999999")
    calls.generate_text(prompt="hello " * 50, task="text")  # costs more than the cent left
    wired.reset()
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="hello", task="text")
    assert wired.requests == []


@pytest.mark.django_db(transaction=True)
def test_async_and_streamed_calls_are_refused_too(wired: FakeProvider) -> None:
    import asyncio

    save_budget(task="text", amount_usd="1", action="stop")
    spend("text", "2")
    with pytest.raises(TaskFailed):
        asyncio.run(calls.agenerate_text(prompt="hello", task="text"))
    with pytest.raises(TaskFailed):
        "".join(calls.stream_text(prompt="hello", task="text"))
    assert wired.requests == []


# Transactional: Django's own WSGI handler closes the connection at each request's start
# (close_old_connections), which on PostgreSQL would end a test's open transaction.
@pytest.mark.django_db(transaction=True)
def test_the_gateway_answers_429_budget_exceeded_through_the_openai_sdk(
    wired: FakeProvider,
) -> None:
    secret = create_token(name="app").secret
    client = openai.OpenAI(
        api_key=secret,
        base_url="http://testserver/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.WSGITransport(app=WSGIHandler())),
    )
    save_budget(task="text", amount_usd="1", action="stop")
    spend("text", "1")
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="text", messages=[{"role": "user", "content": "hi"}])
    assert raised.value.code == "budget_exceeded"
    assert "Budget exceeded: the monthly budget of task 'text' is spent" in raised.value.message
    assert "$1.0000 of $1.0000" in raised.value.message
    assert int(raised.value.response.headers["retry-after"]) > 0
    assert wired.requests == []


@pytest.mark.django_db
def test_periods_roll_over(wired: FakeProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    """Yesterday's spend does not count against today's daily budget."""
    late = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert period_bounds("daily", late) == (
        datetime(2026, 3, 31, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    assert period_bounds("weekly", late)[0] == datetime(2026, 3, 30, tzinfo=UTC)  # a Monday
    assert period_bounds("monthly", late) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
    )
    monkeypatch.setattr(budget_reads, "now_utc", lambda: late)
    save_budget(task="text", amount_usd="1", action="stop", period="daily")
    spend("text", "5", at=late)
    with pytest.raises(TaskFailed):
        calls.generate_text(prompt="hello", task="text")

    monkeypatch.setattr(budget_reads, "now_utc", lambda: late + timedelta(hours=1))
    calls.generate_text(prompt="hello", task="text")  # a new day: allowed again
    assert len(wired.requests) == 1


@pytest.mark.django_db
def test_warning_badge_states_and_check_messages() -> None:
    save_budget(task="text", amount_usd="10", warn_at_percent=80, action="warn")
    save_budget(amount_usd="100", action="stop")
    spend("text", "8.5")
    by_task = {s.budget.task: s for s in budget_statuses()}
    assert by_task["text"].state == "warning"
    assert by_task[""].state == "ok"
    messages = checks.check_budgets()
    assert [m.id for m in messages] == ["aiconfig.W301"]
    assert "85% spent" in messages[0].msg

    spend("agent", "95")
    with checks.strict_config_checks():
        messages = checks.check_budgets()
    assert sorted(m.id for m in messages) == ["aiconfig.E302", "aiconfig.W301"]
    # Outside `manage.py check` (runserver, migrate) an exceeded budget is only a warning.
    assert {m.level for m in checks.check_budgets()} == {30}


@pytest.mark.django_db
def test_budget_changes_are_validated_and_recorded_in_history(editor: Any) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError, match="Unknown task 'nope'"):
        save_budget(task="nope", amount_usd="5")
    with pytest.raises(ValidationError, match="not a number of USD"):
        save_budget(task="text", amount_usd="five")
    with pytest.raises(ValidationError, match="not an email address"):
        save_budget(task="text", amount_usd="5", email_to="ops@example.com, nobody")
    assert not budget_statuses()

    save_budget(task="text", amount_usd="5", user=editor, channel="ui")
    save_budget(task="text", amount_usd="7.5", action="stop", user=editor, channel="ui")
    delete_budget(task="text", user=editor, channel="ui")
    changes = ConfigChange.objects.filter(target_type="budget").order_by("id")
    assert [(c.action, c.user) for c in changes] == [
        ("create", editor),
        ("update", editor),
        ("delete", editor),
    ]
    assert "amount_usd '5' → '7.5'" in changes[1].summary


@pytest.mark.django_db
def test_an_editor_cannot_point_a_webhook_but_an_endpoint_admin_can(
    editor: Any, endpoint_admin: Any
) -> None:
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied, match="manage endpoints"):
        save_budget(task="text", amount_usd="5", webhook_url="http://127.0.0.1:9/x", user=editor)
    save_budget(
        task="text", amount_usd="5", webhook_url="http://127.0.0.1:9/x", user=endpoint_admin
    )
    # The editor still changes the rest, the webhook staying as it is.
    save_budget(task="text", amount_usd="6", user=editor)
    assert budget_statuses()[0].budget.webhook_url == "http://127.0.0.1:9/x"


@pytest.mark.django_db
def test_cli_sets_lists_and_deletes_budgets() -> None:
    out = io.StringIO()
    call_command(
        "ai_budget",
        "set",
        "--task",
        "text",
        "--monthly",
        "50",
        "--warn-at",
        "80",
        "--action",
        "stop",
        stdout=out,
    )
    assert "text: $50/month" in out.getvalue()
    spend("text", "45")
    out = io.StringIO()
    call_command("ai_budget", "list", "--json", stdout=out)
    [row] = json.loads(out.getvalue())["budgets"]
    assert row["task"] == "text"
    assert row["amount_usd"] == "50"
    assert row["spent_usd"] == "45"
    assert row["state"] == "warning"
    assert row["action"] == "stop"
    out = io.StringIO()
    call_command("ai_budget", "list", stdout=out)
    assert "warning" in out.getvalue()
    with pytest.raises(CommandError, match="not a number of USD"):
        call_command("ai_budget", "set", "--task", "text", "--daily", "lots")
    # Changing the amount keeps what was not given again.
    call_command("ai_budget", "set", "--task", "text", "--weekly", "20", stdout=io.StringIO())
    [status] = budget_statuses()
    assert (status.budget.action, status.budget.warn_at_percent) == ("stop", 80)
    assert status.budget.period == "weekly"
    call_command("ai_budget", "delete", "--task", "text", stdout=io.StringIO())
    assert budget_statuses() == []
    assert ConfigChange.objects.filter(target_type="budget", channel="cli").count() == 3


@pytest.mark.django_db
def test_a_viewer_cannot_change_budgets(viewer: Any) -> None:
    """A forged POST from a viewer is refused and changes nothing."""
    save_budget(task="text", amount_usd="5")
    client = Client()
    client.force_login(viewer)
    assert client.get("/budgets/").status_code == 200
    forged = {"task": "text", "amount_usd": "5000", "period": "monthly", "action": "warn"}
    assert client.post("/budgets/", forged).status_code == 403
    assert client.post("/budgets/delete/", {"task": "text"}).status_code == 403
    [status] = budget_statuses()
    assert status.budget.amount_usd == Decimal("5")


SPEND_2_USD = (
    "from django.utils import timezone; from aiconfig.models import UsageRollup; "
    "UsageRollup.objects.create(hour=timezone.now().replace(minute=0, second=0, microsecond=0), "
    "task='text', operation='text', provider='openai', model='gpt-4o-mini', outcome='success', "
    "source='code', attempts=1, calls=1, cost_e8=200000000, priced=1)"
)


def test_manage_check_fails_while_a_stop_budget_is_spent(manage: Any) -> None:
    keys = {"OPENAI_API_KEY": "sk-proj-test-budgets-0001"}
    manage("migrate", "-v0", env=keys)
    manage("ai_budget", "set", "--task", "text", "--daily", "1", "--action", "stop", env=keys)
    assert manage("check", env=keys, check=False).returncode == 0
    manage("shell", "-c", SPEND_2_USD, env=keys)
    result = manage("check", env=keys, check=False)
    assert result.returncode != 0
    assert "aiconfig.E302" in result.stderr
    assert "daily budget of task 'text' is spent ($2.0000 of $1.0000" in result.stderr
    [budget] = manage.json("ai_budget", "list", "--json", env=keys)["budgets"]
    assert (budget["state"], budget["spent_usd"]) == ("exceeded", "2")
