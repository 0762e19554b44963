"""The call log at scale: the admin's list reads no DISTINCT and counts a bounded number of
rows; migration 0011's indexes go on and come off cleanly."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from aiconfig.models import CallLog
from tests.conftest import Manage

INDEXES = {
    "calllog_time",
    "calllog_route_time",
    "calllog_outcome_time",
    "calllog_user_time",
}


def _rows(count: int, **fields: Any) -> list[CallLog]:
    values: dict[str, Any] = {
        "task": "text",
        "operation": "text",
        "provider": "openai",
        "model": "gpt-4.1",
        "attempt": 1,
        "outcome": "success",
        "latency_ms": 10.0,
    }
    values.update(fields)
    return [CallLog(request_id=uuid.uuid4(), **values) for _ in range(count)]


@pytest.mark.django_db
def test_admin_call_log_list_has_no_distinct_no_date_hierarchy_and_a_bounded_count(
    editor: Any, client: Client
) -> None:
    CallLog.objects.bulk_create(_rows(30) + _rows(5, task="image", outcome="error"))
    client.force_login(editor)
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/admin/aiconfig/calllog/")
    assert response.status_code == 200
    html = response.content.decode()
    sqls = [q["sql"].upper() for q in queries.captured_queries]
    assert not any("DISTINCT" in sql for sql in sqls)
    assert 'class="xfull"' not in html  # date hierarchy's markup
    counts = [sql for sql in sqls if "COUNT(" in sql and "AIC" in sql and "CALLLOG" in sql]
    assert counts
    assert all("LIMIT" in sql for sql in counts)
    # Two reads of the log: the bounded count and the page's 100 rows.
    assert len([sql for sql in sqls if '"AICONFIG_CALLLOG"' in sql]) == 2
    # The filters offer the configured tasks and the fixed outcomes, and they filter.
    assert "?task=image" in html
    assert "?outcome__exact=error" in html
    filtered = client.get("/admin/aiconfig/calllog/?task=image").content.decode()
    assert "5 call logs" in filtered


def test_migration_0011_goes_back_and_forth(manage: Manage) -> None:
    show = (
        "from django.db import connection;"
        "import json; print(json.dumps(sorted(connection.introspection.get_constraints("
        "connection.cursor(), 'aiconfig_calllog'))))"
    )

    def constraints() -> set[str]:
        output = manage("shell", "--no-imports", "-c", show).stdout
        return set(json.loads(output.strip().splitlines()[-1]))

    manage("migrate", "--no-input")
    assert constraints() >= INDEXES
    manage("migrate", "aiconfig", "0008", "--no-input")
    back = constraints()
    assert not INDEXES & back
    assert any("created_at" in name for name in back)  # the old time index returns
    manage("migrate", "--no-input")
    assert constraints() >= INDEXES
