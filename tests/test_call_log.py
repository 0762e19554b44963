"""Call-log rows outlive the caller's transaction; a row that cannot be written is never silent."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction

from aiconfig.models import CallLog
from aiconfig.services import calls
from aiconfig.services.calls import log as call_log
from tests.conftest import Manage, provider_env
from tests.fake_provider import FakeProvider


@pytest.fixture
def backlog() -> Iterator[None]:
    """Start and end each test with no kept rows, whatever the test left behind."""
    call_log.discard_backlog()
    yield
    deadline = time.monotonic() + 3
    while call_log.call_log_health().pending_rows and time.monotonic() < deadline:
        time.sleep(0.05)
    call_log.discard_backlog()


def wait_for_rows(count: int, seconds: float = 3.0) -> int:
    deadline = time.monotonic() + seconds
    while CallLog.objects.count() < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return CallLog.objects.count()


@pytest.mark.django_db(transaction=True)
def test_rows_survive_the_callers_rollback(
    wired: FakeProvider, backlog: None, django_user_model: Any
) -> None:
    with contextlib.suppress(RuntimeError), transaction.atomic():
        django_user_model.objects.create(username="rolled-back")  # the caller's own write
        run = calls.generate_text(prompt="inside a transaction")
        assert run.text.startswith("Hello from")
        raise RuntimeError("the caller's block fails after the call")
    assert not django_user_model.objects.filter(username="rolled-back").exists()
    # On PostgreSQL the row is committed at once; on SQLite, where the caller's open
    # transaction held the only write lock, it is written as soon as that lock goes.
    assert wait_for_rows(1) == 1
    row = CallLog.objects.get()
    assert (row.request_id, row.outcome) == (run.request_id, "success")


@pytest.mark.django_db(transaction=True)
def test_a_row_that_cannot_be_written_is_kept_counted_and_retried(
    wired: FakeProvider,
    backlog: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    real_insert = call_log.insert_call_log
    failures = iter([DatabaseError("database is locked")])

    def flaky(rows: Any, *, using: Any = None) -> None:
        error = next(failures, None)
        if error is not None:
            raise error
        real_insert(rows, using=using)

    monkeypatch.setattr(call_log, "insert_call_log", flaky)
    before = calls.call_log_health()
    run = calls.generate_text(prompt="log me later")
    assert run.text.startswith("Hello from")  # the caller gets its answer
    # Told at once when written inline (an in-memory database), else by the writer.
    problem = run.log_error or calls.call_log_problem(
        since=before, health=calls.wait_for_call_log()
    )
    assert problem is not None
    assert "database is locked" in problem
    assert "Could not write 1 call-log row(s) for task 'text'" in caplog.text
    assert calls.call_log_health().delayed_rows == before.delayed_rows + 1
    # Kept, then written by the retry, not dropped.
    assert wait_for_rows(1) == 1
    assert CallLog.objects.get().request_id == run.request_id


@pytest.mark.django_db
def test_the_usage_page_shows_rows_that_could_not_be_written(
    wired: FakeProvider, backlog: None, monkeypatch: pytest.MonkeyPatch, client: Any, editor: Any
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise DatabaseError("disk full")

    monkeypatch.setattr(call_log, "insert_call_log", broken)
    calls.generate_text(prompt="lost")
    monkeypatch.undo()
    client.force_login(editor)
    page = client.get("/usage/").content.decode()
    assert "call-log row" in page
    assert "disk full" in page


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's single write lock")
@pytest.mark.django_db
def test_a_call_beside_another_process_holding_the_write_lock_does_not_wait(
    fake_provider: FakeProvider, manage: Manage, tmp_path: Path
) -> None:
    env = {**provider_env(fake_provider), "AICONFIG_CALL_LOG_BUSY_TIMEOUT_SECONDS": "0.3"}
    manage("migrate", "--no-input", env=env)
    path = manage.database_url.removeprefix("sqlite:///")
    holder = sqlite3.connect(path, isolation_level=None, timeout=5)
    holder.execute("BEGIN IMMEDIATE")  # another process, mid-transaction
    try:
        started = time.perf_counter()
        result = manage("ai_run", "text", "hello", env=env)
        elapsed = time.perf_counter() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # The row it could not write was reported, not dropped silently...
    assert result.stdout.startswith("Hello from")
    assert "call log not written yet: database is locked" in result.stderr
    assert "could not be written before exit and are lost" in result.stderr
    # ...and, with the lock gone, calls log again.
    started = time.perf_counter()
    manage("ai_run", "text", "again", env=env)
    unlocked = time.perf_counter() - started
    # Beside the lock the call took about what an unlocked one takes (process start
    # included, which a busy machine stretches), not SQLite's 20 s busy timeout more.
    assert elapsed < unlocked + 10
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM aiconfig_calllog").fetchone()[0] == 1


@pytest.mark.django_db(transaction=True)
def test_a_call_returns_without_waiting_for_its_log_row(
    wired: FakeProvider, backlog: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("an in-memory SQLite database has its rows written inline")
    held = threading.Event()
    real_insert = call_log.insert_call_log

    def slow_disk(rows: Any, *, using: Any = None) -> None:
        held.wait(10)
        real_insert(rows, using=using)

    monkeypatch.setattr(call_log, "insert_call_log", slow_disk)
    run = calls.generate_text(prompt="answer first, log after")
    # The answer is back while its row is still being written...
    assert run.text.startswith("Hello from")
    assert run.log_error is None
    assert not CallLog.objects.exists()
    # ...and whoever needs the row waits for the writer, not for the provider again.
    held.set()
    health = calls.wait_for_call_log()
    assert health.delayed_rows == calls.call_log_health().delayed_rows
    assert CallLog.objects.get().request_id == run.request_id


@pytest.mark.django_db
def test_a_call_made_while_the_process_exits_still_answers_and_logs(
    fake_provider: FakeProvider, manage: Manage
) -> None:
    # An atexit handler runs after the writer thread's pool has stopped taking work.
    env = provider_env(fake_provider)
    manage("migrate", "--no-input", env=env)
    code = (
        "import atexit\n"
        "from aiconfig.services import calls\n"
        "def last_words():\n"
        "    print(calls.generate_text(prompt='goodbye').text)\n"
        "atexit.register(last_words)\n"
    )
    result = manage("shell", "-c", code, env=env)
    assert "Hello from" in result.stdout, result.stderr
    counted = manage(
        "shell",
        "-c",
        "from aiconfig.models import CallLog; print(CallLog.objects.count())",
        env=env,
    )
    assert counted.stdout.strip().splitlines()[-1] == "1"
