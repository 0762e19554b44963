"""The call explorer (/calls/): calls folded from attempts, filters, keyset pages, CSV."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from aiconfig import selectors
from aiconfig.models import CallLog, TaskAssignment, TaskFallback
from aiconfig.selectors.calls import CallFilters, call_page, cursor_position
from aiconfig.services import calls
from tests.conftest import FAKE_KEYS
from tests.fake_provider import FakeProvider

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.get_fixed_timezone(0))


def attempt(request_id: uuid.UUID, number: int, **fields: Any) -> CallLog:
    """A call-log row as the services write it (defaults: a successful text attempt)."""
    values: dict[str, Any] = {
        "request_id": request_id,
        "created_at": T0,
        "task": "text",
        "operation": "text",
        "provider": "openai",
        "model": "gpt-4.1",
        "attempt": number,
        "is_fallback": number > 1,
        "outcome": "success",
        "latency_ms": 100.0,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost_usd": Decimal("0.0001"),
        "source": "code",
    }
    values.update(fields)
    return CallLog(**values)


def walk(filters: CallFilters, *, size: int) -> tuple[list[uuid.UUID], list[uuid.UUID]]:
    """Every call, walking Older from the first page, then Newer back from the last."""
    older: list[uuid.UUID] = []
    page = call_page(filters=filters, size=size)
    pages = [page]
    while True:
        older += [c.request_id for c in page.calls]
        if page.older is None:
            break
        page = call_page(filters=filters, before=cursor_position(attempt_id=page.older), size=size)
        pages.append(page)
    newer: list[uuid.UUID] = [c.request_id for c in page.calls]
    while page.newer is not None:
        page = call_page(filters=filters, after=cursor_position(attempt_id=page.newer), size=size)
        newer = [c.request_id for c in page.calls] + newer
    return older, newer


def test_keyset_pages_lose_and_repeat_nothing_when_timestamps_tie() -> None:
    # 23 calls, all in the same microsecond; some with two or three attempts, whose
    # rows are interleaved with other calls' rows.
    ids = [uuid.UUID(int=i + 1) for i in range(23)]
    rows = [attempt(request_id, 1) for request_id in ids]
    rows += [attempt(request_id, 2, provider="anthropic") for request_id in ids[::3]]
    rows += [attempt(request_id, 3) for request_id in ids[::7]]
    CallLog.objects.bulk_create(rows)
    older, newer = walk(CallFilters(), size=5)
    assert sorted(older) == sorted(ids)  # every call once, none twice
    assert len(older) == len(set(older)) == 23
    assert newer == older  # Newer walks back through the very same pages
    # A call's line folds all its attempts, even those that don't match the filter.
    filtered, _ = walk(CallFilters(provider="anthropic"), size=4)
    assert sorted(filtered) == sorted(ids[::3])
    first = call_page(filters=CallFilters(provider="anthropic"), size=50).calls
    assert {c.attempts for c in first} == {2, 3}


def test_filters_by_task_model_outcome_source_user_and_time(django_user_model: Any) -> None:
    alice = django_user_model.objects.create_user(username="alice")
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    CallLog.objects.bulk_create(
        [
            attempt(a, 1, created_at=T0 - timedelta(days=3)),
            attempt(b, 1, task="summaries", source="api", user=alice),
            attempt(c, 1, model="fail-500", outcome="error", cost_usd=None),
            attempt(c, 2, provider="anthropic", model="claude-3-haiku"),
            attempt(d, 1, outcome="timed_out", cost_usd=None, created_at=T0 + timedelta(hours=1)),
        ]
    )

    def found(**filters: Any) -> set[uuid.UUID]:
        return {call.request_id for call in call_page(filters=CallFilters(**filters)).calls}

    assert found() == {a, b, c, d}
    assert found(task="summaries") == found(source="api") == found(user_id=alice.pk) == {b}
    assert found(provider="openai", model="fail-500") == {c}
    assert found(outcome="error") == {c}
    assert found(outcome="timed_out") == {d}
    assert found(since=T0 - timedelta(days=1)) == {b, c, d}
    assert found(since=T0, until=T0 + timedelta(minutes=30)) == {b, c}
    # The line of a call rescued by a fallback: who answered, the outcome the caller saw.
    [line] = call_page(filters=CallFilters(outcome="error")).calls
    assert (line.provider, line.model, line.outcome, line.fallback) == (
        "anthropic",
        "claude-3-haiku",
        "success",
        True,
    )
    assert (line.attempts, line.latency_ms) == (2, 200.0)


def route(task: str, provider: str, model: str, *fallbacks: tuple[str, str]) -> None:
    assignment = TaskAssignment.objects.get(task__name=task)
    TaskAssignment.objects.filter(pk=assignment.pk).update(provider=provider, model=model)
    assignment.fallbacks.all().delete()
    TaskFallback.objects.bulk_create(
        TaskFallback(assignment=assignment, position=i, provider=p, model=m)
        for i, (p, m) in enumerate(fallbacks)
    )
    selectors.clear_config_cache()


def test_the_page_lists_real_calls_and_their_detail_shows_each_attempt(
    wired: FakeProvider, viewer: Any, client: Client
) -> None:
    route("text", "openai", "fail-500", ("anthropic", "claude-3-haiku-20240307"))
    calls.generate_text(prompt="three")
    client.force_login(viewer)
    html = client.get("/calls/").content.decode()
    assert '<a href="/calls/" aria-current="page">Calls</a>' in html
    assert "anthropic/claude-3-haiku-20240307" in html
    assert ">fallback<" in html
    [request_id] = set(CallLog.objects.values_list("request_id", flat=True))
    detail = client.get(f"/calls/{request_id}/").content.decode()
    assert "Attempt 1" in detail
    assert "Attempt 2" in detail
    assert "provider_error" in detail
    assert "The provider failed" in detail  # the error in words
    assert "Not stored" in detail  # no prompt without AICONFIG_LOG_PROMPTS
    assert "Open in playground" not in detail
    assert "genai-prices (bundled price data)" in detail


def test_prompt_and_open_in_playground_when_prompts_are_stored(
    wired: FakeProvider, viewer: Any, client: Client, settings: Any
) -> None:
    settings.AICONFIG_LOG_PROMPTS = True
    route("text", "openai", "gpt-4.1")
    calls.generate_text(prompt="Write a haiku about tea")
    [row] = CallLog.objects.all()
    client.force_login(viewer)
    detail = client.get(f"/calls/{row.request_id}/").content.decode()
    assert "Write a haiku about tea" in detail
    assert "Open in playground" in detail
    assert "/playground/?model=openai%2Fgpt-4.1&amp;prompt=Write+a+haiku+about+tea" in detail


def test_no_key_reaches_the_list_the_detail_or_the_csv(
    wired: FakeProvider, viewer: Any, client: Client
) -> None:
    route("text", "openai", "fail-401", ("anthropic", "claude-3-haiku-20240307"))
    calls.generate_text(prompt="hello")
    client.force_login(viewer)
    [request_id] = set(CallLog.objects.values_list("request_id", flat=True))
    pages = [
        client.get("/calls/").content.decode(),
        client.get(f"/calls/{request_id}/").content.decode(),
        b"".join(client.get("/calls/export.csv").streaming_content).decode(),
    ]
    for text in pages:
        for key in FAKE_KEYS.values():
            assert key not in text
            assert key[-8:] not in text


def test_signed_out_visitors_are_sent_to_sign_in(client: Client) -> None:
    some_call = uuid.uuid4()
    CallLog.objects.bulk_create([attempt(some_call, 1, error_message="secret-ish")])
    for url in ("/calls/", f"/calls/{some_call}/", "/calls/export.csv"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/")


def test_bad_filters_are_explained_and_keep_what_was_typed(viewer: Any, client: Client) -> None:
    client.force_login(viewer)
    response = client.get("/calls/?task=text&since=yesterday&outcome=exploded&user=nobody")
    assert response.status_code == 422
    html = response.content.decode()
    assert "&#x27;yesterday&#x27; is not a date." in html
    assert "Choose an outcome from the list." in html
    assert 'value="yesterday"' in html
    assert 'value="text"' in html
    response = client.get("/calls/?user=nobody")
    assert "There is no user named &#x27;nobody&#x27;." in response.content.decode()
    response = client.get("/calls/?since=2026-12-02&until=2026-12-01")
    assert "must come after" in response.content.decode()
    response = client.get("/calls/?before=999999")
    assert "no longer in the log" in response.content.decode()
    assert client.get("/calls/export.csv?since=soon").status_code == 400


def test_until_a_date_includes_that_day_and_usage_links_work(viewer: Any, client: Client) -> None:
    inside, outside = uuid.uuid4(), uuid.uuid4()
    CallLog.objects.bulk_create(
        [
            attempt(inside, 1, created_at=T0 + timedelta(hours=11)),  # 23:00 on the 20th
            attempt(outside, 1, created_at=T0 + timedelta(hours=13)),  # the 21st
        ]
    )
    client.force_login(viewer)
    html = client.get(
        "/calls/?task=text&provider=openai&model=gpt-4.1&since=2026-11-20&until=2026-11-20"
    ).content.decode()
    assert f"/calls/{inside}/" in html
    assert f"/calls/{outside}/" not in html
    # A datetime with its offset's "+" unencoded (a space) still reads.
    html = client.get("/calls/?since=2026-11-21T00:30:00 00:00").content.decode()
    assert f"/calls/{outside}/" in html
    assert f"/calls/{inside}/" not in html


def test_csv_is_streamed_filtered_and_formula_safe(viewer: Any, client: Client) -> None:
    CallLog.objects.bulk_create(
        [attempt(uuid.uuid4(), 1, model='=HYPERLINK("http://x.test","click")')]
        + [attempt(uuid.uuid4(), 1, task="summaries") for _ in range(1200)]
    )
    client.force_login(viewer)
    response = client.get("/calls/export.csv?task=text")
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["model"] for row in rows] == ['\'=HYPERLINK("http://x.test","click")']
    assert rows[0]["cost_usd"] == "0.00010000"
    everything = client.get("/calls/export.csv")
    chunks = list(everything.streaming_content)
    assert len(chunks) > 2  # sent in pieces, not built whole
    assert b"".join(chunks).decode().count("\n") == 1202


def test_the_export_reads_in_keyset_batches_without_losing_tied_rows() -> None:
    from aiconfig.selectors.calls import attempts_for_export

    CallLog.objects.bulk_create(attempt(uuid.uuid4(), 1) for _ in range(30))  # one timestamp
    exported = [row["id"] for row in attempts_for_export(filters=CallFilters(), batch=7)]
    assert sorted(exported, reverse=True) == exported  # newest first
    assert set(exported) == set(CallLog.objects.values_list("id", flat=True))
    assert len(exported) == 30


def test_detail_of_an_unknown_call_is_a_404(viewer: Any, client: Client) -> None:
    client.force_login(viewer)
    assert client.get(f"/calls/{uuid.uuid4()}/").status_code == 404


def test_list_reads_a_bounded_number_of_rows(viewer: Any, client: Client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    CallLog.objects.bulk_create(attempt(uuid.uuid4(), 1) for _ in range(300))
    client.force_login(viewer)
    with CaptureQueriesContext(connection) as queries:
        html = client.get("/calls/").content.decode()
    sql = " ".join(q["sql"] for q in queries.captured_queries).upper()
    assert "COUNT(" not in sql
    assert "OFFSET" not in sql
    assert len(re.findall(r'href="/calls/[0-9a-f-]{36}/"', html)) == 50
    assert "Older →" in html
    assert "← Newer" not in html


def test_ai_calls_lists_filters_and_exports(django_user_model: Any) -> None:
    from django.core.management import CommandError, call_command

    rescued, plain = uuid.uuid4(), uuid.uuid4()
    CallLog.objects.bulk_create(
        [
            attempt(rescued, 1, model="fail-500", outcome="error", cost_usd=None),
            attempt(rescued, 2, provider="anthropic", model="claude-3-haiku"),
            attempt(plain, 1, model="=cmd()", created_at=T0 - timedelta(days=1)),
        ]
    )
    out = io.StringIO()
    call_command("ai_calls", "--outcome", "error", stdout=out)
    [line] = out.getvalue().splitlines()
    assert "anthropic/claude-3-haiku (fallback)  2 attempts  success" in line
    assert str(rescued) in line
    out = io.StringIO()
    call_command("ai_calls", "--csv", "--until", "2026-11-19", stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [row["model"] for row in rows] == ["'=cmd()"]
    with pytest.raises(CommandError, match="--since: 'soon' is not a date"):
        call_command("ai_calls", "--since", "soon")
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        call_command("ai_calls", "--user", "ghost")


def test_the_explorer_only_reads(viewer: Any, client: Client) -> None:
    some_call = uuid.uuid4()
    CallLog.objects.bulk_create([attempt(some_call, 1)])
    client.force_login(viewer)
    for url in ("/calls/", f"/calls/{some_call}/", "/calls/export.csv"):
        assert client.post(url).status_code == 405  # nothing here changes the log
    assert CallLog.objects.count() == 1
