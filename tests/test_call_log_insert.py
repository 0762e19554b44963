"""The call log's fast insert writes exactly what the ORM would, and stays atomic."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection
from django.utils import timezone

from aiconfig.enums import CallOutcome, Channel
from aiconfig.models import CallLog, UsageRollup
from aiconfig.services.calls import log_insert
from aiconfig.services.calls.log_connections import log_connection
from aiconfig.services.rollup import KEY_FIELDS, SUM_FIELDS, summed


def _rows(user: object | None = None) -> list[CallLog]:
    now = timezone.now()
    return [
        CallLog(
            request_id=uuid.uuid4(),
            created_at=now,
            task="agent",
            operation="text",
            provider="openai",
            model="fail-500",
            attempt=1,
            outcome=CallOutcome.ERROR,  # a TextChoices member, as the loop writes it
            error_kind="server_error",
            error_message="Error code: 500 - 'quoted', ünïcode",
            latency_ms=12.5,
            source=Channel.CODE,
        ),
        CallLog(
            created_at=now,
            task="agent",
            operation="text",
            provider="anthropic",
            model="claude-sonnet-4-5",
            attempt=2,
            is_fallback=True,
            outcome="success",
            latency_ms=812.25,
            input_tokens=1200,
            output_tokens=33,
            cache_read_tokens=1000,
            cost_usd=Decimal("0.00113100"),
            source="api",
            user=user,
            api_token="backend",
            prompt="a prompt",
            response="an answer",
        ),
    ]


@pytest.mark.django_db
def test_the_fast_insert_sends_the_values_the_orm_would(django_user_model: object) -> None:
    user = django_user_model.objects.create_user(username="caller")  # type: ignore[attr-defined]
    rows = _rows(user)
    _, values = log_insert._insert_sql(rows, connection)
    assert values == log_insert.orm_values(rows, connection)
    assert [type(v) for v in values] == [type(v) for v in log_insert.orm_values(rows, connection)]


@pytest.mark.django_db(transaction=True)
def test_rows_and_their_rollup_are_written_together_or_not_at_all_on_the_logs_own_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows = _rows()
    own = log_connection()
    log_insert.insert_call_log(rows, using=own)
    stored = list(CallLog.objects.order_by("attempt"))
    assert [(r.model, r.outcome, r.cost_usd) for r in stored] == [
        ("fail-500", "error", None),
        ("claude-sonnet-4-5", "success", Decimal("0.00113100")),
    ]
    assert stored[0].error_message == rows[0].error_message
    assert sum(UsageRollup.objects.values_list("attempts", flat=True)) == 2
    expected = summed(CallLog.objects.all())
    assert {k: v.sums for k, v in expected.items()} == {
        tuple(getattr(r, f) for f in KEY_FIELDS): [getattr(r, f) for f in SUM_FIELDS]
        for r in UsageRollup.objects.all()
    }

    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("rollup write failed")

    monkeypatch.setattr(log_insert, "add_to_rollup", broken)
    with pytest.raises(DatabaseError):
        log_insert.insert_call_log(_rows(), using=own)
    assert CallLog.objects.count() == 2  # the failed call's rows went with its rollup
    monkeypatch.undo()
    log_insert.insert_call_log(_rows(), using=own)  # the connection is usable again
    assert CallLog.objects.count() == 4
    assert sum(UsageRollup.objects.values_list("attempts", flat=True)) == 4
