"""`manage.py check` for the AI configuration.

Under `manage.py check` configuration errors are Errors (non-zero exit). Every other
command that runs checks (runserver, migrate) sees them as Warnings: a wrong
assignment must never stop the dashboard that fixes it, nor the `migrate` that seeds it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError

from aiconfig.formatting import usd
from aiconfig.selectors import RollupDrift, load_snapshot, rollup_drift
from aiconfig.selectors.budgets import budget_statuses
from aiconfig.validation import check_snapshot

_strict: ContextVar[bool] = ContextVar("aiconfig_strict_checks", default=False)

CODES = {
    "unknown_provider": "001",
    "capability": "002",
    "missing_model": "003",
    "fallback_same_as_primary": "004",
    "duplicate_fallback": "005",
    "malformed_base_url": "006",
    "missing_base_url": "007",
    "timeout": "008",
    "retries": "009",
    "output_kind": "010",
    # Length and character limits (validation.py, "limits" section).
    "too_long": "020",
    "model_name_characters": "021",
    "no_enabled_route": "011",
    "endpoint_not_allowed": "012",
    "key_variable_not_allowed": "013",
    "provider_not_initialized": "101",
    "unknown_capabilities": "102",
    "provider_disabled": "103",
}


@contextlib.contextmanager
def strict_config_checks() -> Iterator[None]:
    """Report configuration errors as Errors while this block runs."""
    token = _strict.set(True)
    try:
        yield
    finally:
        _strict.reset(token)


def check_ai_config(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Validate every task and provider stored in the database."""
    try:
        snapshot = load_snapshot()
    except DatabaseError:
        # Tables not created yet (first migrate): nothing to check.
        return []
    messages: list[CheckMessage] = []
    strict = _strict.get()
    problems = check_snapshot(snapshot, environ=os.environ)
    # One missing key is one problem, however many tasks use that provider.
    keyless: dict[str, list[str]] = {}
    for problem in problems:
        if problem.code == "provider_not_initialized" and problem.provider:
            keyless.setdefault(problem.provider, []).append(problem.task or "?")
    for name, tasks in keyless.items():
        env_var = snapshot.providers[name].api_key_env
        messages.append(
            Warning(
                f"Provider not initialized: '{name}' is used by {', '.join(sorted(set(tasks)))} "
                f"but {env_var} is not set.",
                hint=f"Set {env_var} in the environment or .env and restart.",
                id=f"aiconfig.W{CODES['provider_not_initialized']}",
            )
        )
    for problem in problems:
        if problem.code == "provider_not_initialized":
            continue
        number = CODES.get(problem.code, "999")
        if problem.is_error and strict:
            messages.append(Error(problem.message, hint=problem.fix, id=f"aiconfig.E{number}"))
        else:
            messages.append(Warning(problem.message, hint=problem.fix, id=f"aiconfig.W{number}"))
    return messages


def _drift_in_words(drift: RollupDrift) -> str:
    """What the call log holds that the rollup does not count the same."""
    parts = []
    if drift.log_rows != drift.rollup_attempts:
        parts.append(f"{drift.log_rows} rows but the rollup counts {drift.rollup_attempts}")
    if drift.log_failed_calls != drift.rollup_failed_calls:
        parts.append(
            f"{drift.log_failed_calls} failed calls but the rollup counts "
            f"{drift.rollup_failed_calls}"
        )
    return ", and ".join(parts)


def check_usage_rollup(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when the usage rollup does not sum the last day's call log exactly."""
    try:
        drift = rollup_drift()
    except DatabaseError:
        return []  # tables not created yet
    if drift.in_step:
        return []
    return [
        Warning(
            f"The usage rollup is out of date: since {drift.since:%Y-%m-%d %H:00 %Z} the call "
            f"log has {_drift_in_words(drift)}.",
            hint=(
                "Run `python manage.py ai_usage rebuild --since "
                f"{drift.since:%Y-%m-%d}` (rows were written to the call log some other way, "
                "or the rollup was summed before it counted failed calls)."
            ),
            id="aiconfig.W201",
        )
    ]


def check_budgets(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Warn when a budget is over its warning threshold; a spent `stop` budget is an error.

    As with configuration errors, only under `manage.py check`: a spent budget must not
    stop the dashboard or the `migrate` that would raise it.
    """
    try:
        statuses = budget_statuses()
    except DatabaseError:
        return []  # tables not created yet
    messages: list[CheckMessage] = []
    for status in statuses:
        budget = status.budget
        figures = f"{usd(status.spent_usd)} of {usd(budget.amount_usd)}, {status.percent:.0f}%"
        if status.stops_calls:
            text = (
                f"Budget exceeded: {budget.description} is spent ({figures}); its calls "
                f"fail with budget_exceeded until {status.resets_at:%Y-%m-%d %H:%M} UTC."
            )
            hint = "Raise it with `python manage.py ai_budget set`, or wait for the reset."
            if _strict.get():
                messages.append(Error(text, hint=hint, id="aiconfig.E302"))
            else:
                messages.append(Warning(text, hint=hint, id="aiconfig.W302"))
        elif status.exceeded or status.warning:
            word = "exceeded" if status.exceeded else f"{status.percent:.0f}% spent"
            messages.append(
                Warning(
                    f"Budget {word}: {budget.description} ({figures}; warning at "
                    f"{budget.warn_at_percent}%).",
                    hint="See the Budgets page or `python manage.py ai_budget list`.",
                    id="aiconfig.W301",
                )
            )
    return messages
