"""A provider's "Test connection": one real, minimal request, reported in words."""

from __future__ import annotations

import time
from dataclasses import dataclass

from adapters import AdapterError, attempt_scope, redact
from aiconfig.endpoints import public_failure
from aiconfig.selectors import config_snapshot
from aiconfig.services.calls.plan import Step, ready_adapter, wrap_unexpected
from aiconfig.services.history import User
from aiconfig.snapshots import RouteConfig
from aiconfig.validation import check_provider


@dataclass(frozen=True, slots=True)
class ConnectionCheck:
    """The outcome of a provider's "Test connection"."""

    ok: bool
    latency_ms: float
    message: str
    models: tuple[str, ...] = ()


def test_provider_connection(
    *, provider: str, user: User = None, timeout_seconds: float = 10.0
) -> ConnectionCheck:
    """Make a real, minimal request (list the models) and say what happened, in words."""
    snapshot = config_snapshot()
    info = snapshot.providers.get(provider)
    if info is None:
        return ConnectionCheck(False, 0.0, f"Unknown provider '{provider}'.")
    problems = [p for p in check_provider(provider=info, in_use_by=[provider]) if p.is_error]
    if problems:
        return ConnectionCheck(False, 0.0, problems[0].text)
    step = Step(0, RouteConfig(info.name, "", "edited"), info, None)
    started = time.perf_counter()
    try:
        adapter = ready_adapter(step, timeout_seconds)
        # The same wall-clock deadline as a task's attempt: a trickling server can't hang it.
        with attempt_scope(deadline=time.monotonic() + timeout_seconds):
            models = tuple(adapter.list_models())
    except Exception as exc:
        # Status and plain words, never the body of whatever answered (see public_failure).
        latency = (time.perf_counter() - started) * 1000
        error = exc if isinstance(exc, AdapterError) else wrap_unexpected(exc, step)  # logs it
        message = public_failure(error, provider=info.display_name)
        return ConnectionCheck(False, latency, redact(message, [info.api_key()]))
    latency = (time.perf_counter() - started) * 1000
    return ConnectionCheck(
        True,
        latency,
        f"Connected to {info.display_name} in {latency:.0f} ms: {len(models)} models available.",
        models,
    )


# Tell pytest this is not a test, despite its name.
test_provider_connection.__test__ = False  # type: ignore[attr-defined]
