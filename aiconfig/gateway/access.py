"""Who may call what: the token check every gateway request starts with (one thread hop)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from aiconfig.gateway.errors import GatewayError
from aiconfig.gateway.wire import WireRequest
from aiconfig.selectors import (
    find_token_at_version,
    month_start,
    snapshot_at_version,
    token_month_spend,
)
from aiconfig.services.calls.log_later import wait_for_deferred_writes
from aiconfig.services.tokens import admit
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
    if (
        token is None
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
    ):
        raise GatewayError(401, _INVALID, type="authentication_error", code="invalid_api_key")
    snapshot = snapshot_at_version(version)
    known = snapshot.tasks
    allowed = tuple(t for t in (token.tasks or sorted(known)) if t in known)
    if task is None:
        return Grant(token.name, allowed, snapshot)
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
    if token.monthly_budget_usd is not None:
        wait_for_deferred_writes()  # this process's last calls count too
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
