"""Budgets on the dashboard: the Budgets page's forms, and the badges on Tasks and Usage."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from aiconfig.models import AlertRule, Budget
from aiconfig.services.budgets import save_budget
from tests.fake_provider import FakeProvider
from tests.test_budgets import spend


def signed_in(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_an_editor_sets_a_budget_with_htmx_and_sees_it(editor: Any) -> None:
    client = signed_in(editor)
    page = client.post(
        "/budgets/",
        {"task": "text", "amount_usd": "50", "period": "weekly", "warn_at_percent": "75",
         "action": "stop", "email_to": "ops@example.com"},
        HTTP_HX_REQUEST="true",
    )  # fmt: skip
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="budgets-body"' in html
    assert "<html" not in html  # the partial only
    assert "$50.00 / week" in html
    budget = Budget.objects.get(task="text")
    assert (budget.amount_usd, budget.period, budget.warn_at_percent, budget.action) == (
        Decimal("50"),
        "weekly",
        75,
        "stop",
    )


@pytest.mark.django_db
def test_bad_input_keeps_what_was_typed_and_saves_nothing(editor: Any) -> None:
    page = signed_in(editor).post(
        "/budgets/", {"task": "text", "amount_usd": "lots", "email_to": "ops@example.com"}
    )
    assert page.status_code == 422
    html = page.content.decode()
    assert "is not a number of USD" in html
    assert 'value="lots"' in html
    assert 'value="ops@example.com"' in html
    assert not Budget.objects.exists()


@pytest.mark.django_db
def test_an_editor_forging_a_webhook_field_is_refused(editor: Any, endpoint_admin: Any) -> None:
    """Editors get no webhook field; posting one anyway changes nothing."""
    client = signed_in(editor)
    assert 'name="webhook_url"' not in client.get("/budgets/").content.decode()
    assert 'name="webhook_url"' in signed_in(endpoint_admin).get("/budgets/").content.decode()
    forged = {"task": "text", "amount_usd": "5", "period": "monthly", "action": "warn",
              "webhook_url": "http://127.0.0.1:9/steal"}  # fmt: skip
    assert client.post("/budgets/", forged).status_code == 403
    assert client.post("/budgets/rules/", {**forged, "name": "r", "metric": "failure_rate",
                                           "threshold": "5"}).status_code == 403  # fmt: skip
    assert not Budget.objects.exists()
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_a_viewer_cannot_add_or_delete_rules(viewer: Any) -> None:
    client = signed_in(viewer)
    rule = {"name": "errors", "metric": "failure_rate", "threshold": "5", "window_minutes": "15"}
    assert client.post("/budgets/rules/", rule).status_code == 403
    assert client.post("/budgets/rules/delete/", {"name": "errors"}).status_code == 403
    assert not AlertRule.objects.exists()
    html = client.get("/budgets/").content.decode()
    assert "Save budget" not in html
    assert "Save rule" not in html


@pytest.mark.django_db
def test_an_editor_adds_and_deletes_an_alert_rule(editor: Any) -> None:
    client = signed_in(editor)
    rule = {"name": "slow-text", "task": "text", "metric": "p95_latency", "threshold": "3000",
            "window_minutes": "10"}  # fmt: skip
    page = client.post("/budgets/rules/", rule, HTTP_HX_REQUEST="true")
    assert "p95 latency of text above 3000 ms over 10 min" in page.content.decode()
    client.post("/budgets/rules/delete/", {"name": "slow-text"})
    assert not AlertRule.objects.exists()


@pytest.mark.django_db
def test_the_tasks_and_usage_pages_show_the_budget_and_its_badge(viewer: Any) -> None:
    save_budget(task="text", amount_usd="10", action="stop")
    save_budget(amount_usd="100")
    spend("text", "8.5")
    client = signed_in(viewer)
    tasks = client.get("/").content.decode()
    assert "Budget: $8.5000 this month (85%) of $10.00 / month" in tasks
    assert "status-warning" in tasks
    assert "Overall budget" not in tasks  # the overall one is fine: not on every card
    usage = client.get("/usage/").content.decode()
    assert 'id="budgets"' in usage
    assert "All tasks (overall)" in usage
    assert "$8.5000 this month (85%)" in usage

    spend("text", "2")
    tasks = client.get("/").content.decode()
    assert "Exceeded: calls stopped" in tasks


@pytest.mark.django_db
def test_try_it_on_a_stopped_task_says_the_budget_is_spent(
    editor: Any, wired: FakeProvider
) -> None:
    save_budget(task="text", amount_usd="1", action="stop")
    spend("text", "1.25")
    page = signed_in(editor).post(
        "/tasks/text/try/", {"try-text-prompt": "hello"}, HTTP_HX_REQUEST="true"
    )
    html = page.content.decode()
    assert "Task &#x27;text&#x27; was not run." in html
    assert "budget_exceeded" in html
    assert "the monthly budget of task &#x27;text&#x27; is spent ($1.2500 of $1.0000)" in html
    assert "could not reach" not in html
    assert wired.requests == []
