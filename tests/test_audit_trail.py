"""The audit trail is append-only: editors cannot erase who did what; pruning records itself."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from aiconfig import services
from aiconfig.models import CallLog, ConfigChange
from aiconfig.services.calllog import prune_call_log

pytestmark = pytest.mark.django_db


def _log_row(*, age: timedelta, model: str = "gpt-4.1") -> CallLog:
    return CallLog.objects.create(
        created_at=timezone.now() - age,
        task="text",
        operation="text",
        provider="openai",
        model=model,
        attempt=1,
        outcome="success",
        latency_ms=12.5,
    )


@pytest.fixture
def audit_rows() -> tuple[CallLog, ConfigChange]:
    """One call-log row and one change-history row an attacker would like to erase."""
    services.update_task_config(task="text", provider="openai", model="gpt-4o")
    change = ConfigChange.objects.first()
    assert change is not None
    return _log_row(age=timedelta(hours=1)), change


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("model_name", ["calllog", "configchange"])
def test_editor_cannot_change_or_delete_audit_rows_in_the_admin(
    editor: Any, audit_rows: tuple[CallLog, ConfigChange], model_name: str
) -> None:
    # The fixture grants change_/delete_ on both models, as an old group would have:
    # the admin must refuse anyway.
    row = audit_rows[0] if model_name == "calllog" else audit_rows[1]
    client = _client(editor)
    base = f"/admin/aiconfig/{model_name}/"
    assert client.get(f"{base}{row.pk}/change/").status_code == 200  # viewing stays

    changed = client.post(f"{base}{row.pk}/change/", {"model": "x", "summary": "nothing happened"})
    deleted = client.post(f"{base}{row.pk}/delete/", {"post": "yes"})
    client.post(base, {"action": "delete_selected", "_selected_action": [str(row.pk)]})
    assert changed.status_code == 403
    assert deleted.status_code == 403
    fresh = type(row).objects.get(pk=row.pk)
    assert getattr(fresh, "model", None) == getattr(row, "model", None)
    assert getattr(fresh, "summary", None) == getattr(row, "summary", None)
    listing = client.get(base).content.decode()
    assert "delete_selected" not in listing
    assert f"{base}add/" not in listing


@pytest.mark.parametrize("model_name", ["calllog", "configchange"])
def test_superuser_can_delete_audit_rows_in_the_admin(
    admin_user: Any, audit_rows: tuple[CallLog, ConfigChange], model_name: str
) -> None:
    row = audit_rows[0] if model_name == "calllog" else audit_rows[1]
    response = _client(admin_user).post(
        f"/admin/aiconfig/{model_name}/{row.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    assert not type(row).objects.filter(pk=row.pk).exists()


def test_prune_removes_only_old_rows_in_batches_and_records_itself(admin_user: Any) -> None:
    old = [_log_row(age=timedelta(days=200 + i)) for i in range(7)]
    recent = _log_row(age=timedelta(days=10))
    result = prune_call_log(
        older_than=timezone.now() - timedelta(days=180), batch_size=3, user=admin_user
    )
    assert result.rows == 7
    assert not CallLog.objects.filter(pk__in=[r.pk for r in old]).exists()
    assert CallLog.objects.filter(pk=recent.pk).exists()
    change = ConfigChange.objects.first()
    assert change is not None
    assert change == result.change
    assert (change.target_type, change.action, change.user) == ("calllog", "delete", admin_user)
    assert change.summary.startswith("pruned 7 call-log rows older than ")


def test_prune_dry_run_deletes_nothing_and_records_nothing() -> None:
    _log_row(age=timedelta(days=400))
    changes = ConfigChange.objects.count()
    result = prune_call_log(older_than=timezone.now() - timedelta(days=180), dry_run=True)
    assert result.rows == 1
    assert CallLog.objects.count() == 1
    assert ConfigChange.objects.count() == changes


def test_ai_usage_prune_command_dry_run_confirm_and_yes() -> None:
    _log_row(age=timedelta(days=181))
    _log_row(age=timedelta(days=1))
    out = io.StringIO()
    call_command("ai_usage", "prune", "--older-than", "180d", "--dry-run", stdout=out)
    assert "Would delete 1 call-log rows older than" in out.getvalue()
    assert CallLog.objects.count() == 2

    # No terminal to ask (tests, CI): without --yes nothing is deleted and it says why.
    with pytest.raises(CommandError, match="--yes"):
        call_command("ai_usage", "prune", "--older-than", "180d")
    assert CallLog.objects.count() == 2

    out = io.StringIO()
    call_command("ai_usage", "prune", "--older-than", "180d", "--yes", stdout=out)
    assert "Deleted 1 call-log rows" in out.getvalue()
    assert CallLog.objects.count() == 1
    change = ConfigChange.objects.first()
    assert change is not None
    assert (change.target_type, change.channel) == ("calllog", "cli")

    with pytest.raises(CommandError, match="as an age or date"):
        call_command("ai_usage", "prune", "--older-than", "half a year", "--yes")


def test_ai_usage_without_subcommand_still_summarises() -> None:
    _log_row(age=timedelta(hours=2))
    out = io.StringIO()
    call_command("ai_usage", "--since", "7d", "--json", stdout=out)
    assert '"model": "gpt-4.1"' in out.getvalue()


def test_history_shows_a_prune_as_not_revertable(admin_user: Any) -> None:
    _log_row(age=timedelta(days=365))
    result = prune_call_log(older_than=timezone.now() - timedelta(days=180), user=admin_user)
    assert result.change is not None
    client = _client(admin_user)
    html = client.get("/history/?target=calllog").content.decode()
    assert "pruned 1 call-log rows older than" in html
    assert "cannot be reverted" in html
    assert f'action="/history/{result.change.pk}/revert/"' not in html
    # Even a superuser forging the revert POST gets nothing back.
    response = client.post(f"/history/{result.change.pk}/revert/")
    assert response.status_code == 403
    assert CallLog.objects.count() == 0
