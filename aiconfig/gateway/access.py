"""Who may call what: the token check every gateway request starts with.

`authorize` does it all in a thread; `authorize_in_memory` decides from a token row
read on the event loop (`aiconfig.gateway.loop_lookup`) when nothing else needs the
database, the common case, so that most requests make no thread hop for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import timezone

from aiconfig.gateway.errors import GatewayError
from aiconfig.gateway.wire import WireRequest
from aiconfig.models import ApiToken
from aiconfig.selectors import (
    cached_snapshot,
    find_token_at_version,
    month_start,
    snapshot_at_version,
    token_month_spend,
)
from aiconfig.services.calls.log_writer import wait_for_writes
from aiconfig.services.tokens import admit, may_skip_admit
from aiconfig.snapshots import ConfigSnapshot

_MISSING = (
    "No API token. Send it as 'Authorization: Bearer aic_...' (or the 'x-api-key' header); "
    "create one with `manage.py ai_token create NAME` or on the API tokens page."
)
_INVALID = "Invalid API token: it is unknown, revoked or expired."


@dataclass(frozen=True, slots=True)
class Grant:
    """A request let in: the token's name (for the call log), the tasks it may call, and
    the configuration the check read (the request's call runs on it: no second read)."""

    token: str
    tasks: tuple[str, ...]
    config: ConfigSnapshot


def presented_secret(request: WireRequest) -> str:
    """The token the client sent: `Authorization: Bearer ...`, else `x-api-key` (Anthropic)."""
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key", "").strip()


def authorize(*, secret: str, task: str | None) -> Grant:
    """Check the token, then (for a call) the task, budget and rate limit; raise GatewayError.

    The order matters to what a caller can learn: a bad token learns nothing, and a
    token limited to some tasks gets 403 for any other name, configured or not.
    """
    if not secret:
        raise GatewayError(401, _MISSING, type="authentication_error", code="missing_api_key")
    token, version = find_token_at_version(secret=secret)
    now = timezone.now()
    token = _valid(token, now)
    snapshot = snapshot_at_version(version)
    allowed = _allowed(token, snapshot, task)
    if task is None:
        return Grant(token.name, allowed, snapshot)
    if token.monthly_budget_usd is not None:
        _check_budget(token, now)
    wait = admit(token=token)
    if wait is not None:
        raise GatewayError(
            429,
            f"Rate limit reached: this token may make {token.rate_limit_per_minute} requests "
            f"a minute. Try again in {wait:.0f} s.",
            type="rate_limit_error",
            code="rate_limit_exceeded",
            retry_after=wait,
        )
    return Grant(token.name, allowed, snapshot)


def authorize_in_memory(*, token: ApiToken | None, version: int, task: str | None) -> Grant | None:
    """`authorize` for a token row and version already read, with no database work.

    Refuses (GatewayError) what `authorize` would refuse from the row and the cached
    configuration alone; returns None when the rest needs the database (configuration
    not cached at this version, a budget, a rate limit, "last used" to note): the
    caller then runs `authorize` itself, which reads everything again.
    """
    now = timezone.now()
    token = _valid(token, now)
    snapshot = cached_snapshot(version=version)
    if snapshot is None:
        return None
    allowed = _allowed(token, snapshot, task)
    if task is not None and not may_skip_admit(token=token, now=now):
        return None
    if task is not None and token.monthly_budget_usd is not None:
        return None
    return Grant(token.name, allowed, snapshot)


def _valid(token: ApiToken | None, now: datetime) -> ApiToken:
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise GatewayError(401, _INVALID, type="authentication_error", code="invalid_api_key")
    return token


def _allowed(token: ApiToken, snapshot: ConfigSnapshot, task: str | None) -> tuple[str, ...]:
    """The tasks the token may call; for a call, 403 or 404 unless `task` is one."""
    known = snapshot.tasks
    allowed = tuple(t for t in (token.tasks or sorted(known)) if t in known)
    if task is None:
        return allowed
    if token.tasks and task not in token.tasks:
        raise GatewayError(
            403,
            f"This token may not call task '{task}'. It may call: {', '.join(allowed) or 'none'}.",
            type="permission_error",
            code="task_not_allowed",
            param="model",
        )
    if task not in known:
        raise GatewayError(
            404,
            f"The model '{task}' does not exist: the model is a task name. "
            f"Tasks this token may call: {', '.join(allowed) or 'none'}.",
            code="model_not_found",
            param="model",
        )
    return allowed


def _check_budget(token: ApiToken, now: datetime) -> None:
    assert token.monthly_budget_usd is not None
    wait_for_writes()  # this process's last calls count too
    spent = token_month_spend(name=token.name)
    if spent >= token.monthly_budget_usd:
        start = month_start(now)
        following = (start.replace(day=28) + timedelta(days=4)).replace(day=1)
        raise GatewayError(
            429,
            f"Monthly budget exceeded: this token has spent ${spent.normalize():f} of "
            f"its ${token.monthly_budget_usd.normalize():f} budget this month; it resets on "
            f"{following:%Y-%m-%d} (UTC).",
            type="insufficient_quota",
            code="budget_exceeded",
            retry_after=(following - now).total_seconds(),
        )
