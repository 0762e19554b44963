"""Migrations: committed for every model change, reversible, and kind to the call log."""

from __future__ import annotations

from tests.conftest import Manage

COUNT_ROWS = "from aiconfig.models import CallLog; print(CallLog.objects.count())"
ADD_ROW = (
    "from aiconfig.models import CallLog; "
    "CallLog.objects.create(task='text', operation='generate_text', provider='openai', "
    "model='gpt-4.1', attempt=1, outcome='success', latency_ms=12.5)"
)


def test_the_models_and_the_committed_migrations_agree(manage: Manage) -> None:
    result = manage("makemigrations", "--check", "--dry-run", check=False)
    assert result.returncode == 0, f"a model change has no migration:\n{result.stdout}"


def test_every_migration_reverses_and_applies_again(manage: Manage) -> None:
    manage("migrate", "--no-input")
    manage("migrate", "aiconfig", "zero", "--no-input")
    manage("migrate", "--no-input")
    assert manage("shell", "--no-imports", "-c", COUNT_ROWS).stdout.strip() == "0"


def test_going_back_a_release_keeps_the_call_log(manage: Manage) -> None:
    manage("migrate", "--no-input")
    manage("shell", "--no-imports", "-c", ADD_ROW)
    # 0016 drops two redundant indexes; undoing it puts them back, rows untouched.
    manage("migrate", "aiconfig", "0015", "--no-input")
    manage("migrate", "--no-input")
    assert manage("shell", "--no-imports", "-c", COUNT_ROWS).stdout.strip() == "1"
