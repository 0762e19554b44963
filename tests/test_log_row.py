"""The call path's light rows (`LogRow`) are exactly the call log's columns, stored as given."""

from __future__ import annotations

import dataclasses
import uuid
from decimal import Decimal

import pytest
from django.db import connection

from aiconfig.log_row import LogRow
from aiconfig.models import CallLog
from aiconfig.services.calls import log_insert


def test_a_log_row_has_every_call_log_column_and_nothing_else() -> None:
    # A column added to CallLog but not to LogRow would be written as its default
    # (or refused): this keeps the two in step.
    columns = {f.attname for f in CallLog._meta.concrete_fields if not f.primary_key}
    assert {f.name for f in dataclasses.fields(LogRow)} == columns


@pytest.mark.django_db
def test_a_log_row_is_stored_as_the_orm_would_store_the_same_values(
    django_user_model: object,
) -> None:
    user = django_user_model.objects.create_user(username="caller")  # type: ignore[attr-defined]
    row = LogRow(
        request_id=uuid.uuid4(),
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
        user_id=user.pk,
        api_token="backend",
        prompt="a prompt",
        response="an answer ünïcode",
    )
    as_model = CallLog(**dataclasses.asdict(row))
    _, values = log_insert._insert_sql([row], connection)
    assert values == log_insert.orm_values([as_model], connection)

    log_insert.insert_call_log([row], using=connection)
    stored = CallLog.objects.get()
    for name, value in dataclasses.asdict(row).items():
        assert getattr(stored, name) == value, name
