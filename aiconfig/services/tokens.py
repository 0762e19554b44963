"""API tokens for the HTTP gateway: create, revoke, and admit one request.

A token is `aic_` plus 32 random bytes (url-safe base64): guessing one is hopeless,
so a plain sha256 of it is a safe thing to store and look up by; the token itself
is returned once, by `create_token`, and never stored or logged.

Token changes are not written to `ConfigChange`: its newest id is the configuration
version every process reloads on, and its history page offers reverts, neither of
which fits a credential. A token row keeps who created it and when it was revoked.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from aiconfig.exceptions import AIConfigError
from aiconfig.models import ApiToken
from aiconfig.selectors import config_snapshot, hash_secret
from aiconfig.services.history import User, known_user

TOKEN_PREFIX = "aic_"
# What lists show: enough to tell tokens apart, far too little to use one.
DISPLAY_CHARS = 12
LAST_USED_GRAIN = timedelta(minutes=1)
_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_DURATION_RE = re.compile(r"^(\d+)\s*([dhw])$")


class TokenError(AIConfigError):
    """A token request that cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class NewToken:
    """A token just created: the row, and the secret, shown this once."""

    token: ApiToken
    secret: str


def parse_expires(value: str) -> datetime:
    """`90d`, `12h` or `2w` from now, as an aware datetime; anything else is a TokenError."""
    match = _DURATION_RE.match(value.strip().lower())
    if not match or int(match.group(1)) <= 0:
        raise TokenError(
            f"--expires {value!r} is not a duration: use a number of days, hours or weeks, "
            "e.g. 90d, 12h or 2w."
        )
    unit = {"d": "days", "h": "hours", "w": "weeks"}[match.group(2)]
    return timezone.now() + timedelta(**{unit: int(match.group(1))})


def _check_fields(
    *,
    name: str,
    tasks: Sequence[str],
    rate_limit_per_minute: int | None,
    monthly_budget_usd: Decimal | str | None,
) -> Decimal | None:
    if not _NAME_RE.match(name):
        raise TokenError(
            f"Token name {name!r} is not valid: use lower-case letters, digits, '-' and '_' "
            "(at most 64), starting with a letter or digit."
        )
    known = config_snapshot().tasks
    unknown = [t for t in tasks if t not in known]
    if unknown:
        raise TokenError(
            f"Unknown task(s) {', '.join(unknown)}. Known tasks: {', '.join(sorted(known))}."
        )
    if rate_limit_per_minute is not None and rate_limit_per_minute <= 0:
        raise TokenError("The rate limit must be a positive number of requests per minute.")
    if monthly_budget_usd is None or monthly_budget_usd == "":
        return None
    try:
        budget = Decimal(str(monthly_budget_usd))
    except InvalidOperation:
        raise TokenError(f"Budget {monthly_budget_usd!r} is not a number of USD.") from None
    if not budget.is_finite() or budget < Decimal("1e-8") or budget >= Decimal("1e6"):
        raise TokenError(
            "The monthly budget must be a number of USD from 0.00000001 to below 1000000."
        )
    return budget.quantize(Decimal("1e-8"))


def create_token(
    *,
    name: str,
    tasks: Sequence[str] = (),
    expires_at: datetime | None = None,
    rate_limit_per_minute: int | None = None,
    monthly_budget_usd: Decimal | str | None = None,
    user: User = None,
) -> NewToken:
    """Create a token; the returned secret is the only time anyone sees it in full."""
    tasks = list(dict.fromkeys(t.strip() for t in tasks if t.strip()))
    budget = _check_fields(
        name=name,
        tasks=tasks,
        rate_limit_per_minute=rate_limit_per_minute,
        monthly_budget_usd=monthly_budget_usd,
    )
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("The expiry date is in the past: a token must expire in the future.")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                prefix=secret[:DISPLAY_CHARS],
                secret_hash=hash_secret(secret),
                tasks=tasks,
                rate_limit_per_minute=rate_limit_per_minute,
                monthly_budget_usd=budget,
                expires_at=expires_at,
                created_by=known_user(user),
            )
    except IntegrityError:
        raise TokenError(
            f"A token named '{name}' already exists. Pick another name, or revoke it first "
            "and use a new name (revoked tokens keep their name for the call log)."
        ) from None
    return NewToken(token=token, secret=secret)


def revoke_token(*, name: str, user: User = None) -> ApiToken:
    """Revoke a token: every request with it is refused from now on (401)."""
    token = ApiToken.objects.filter(name=name).first()
    if token is None:
        raise TokenError(f"No token named '{name}'.")
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def may_skip_admit(*, token: ApiToken, now: datetime) -> bool:
    """Whether `admit` would write nothing for this request (no rate limit, and "last
    used" noted less than a minute ago), so a check may leave it out."""
    return token.rate_limit_per_minute is None and (
        token.last_used_at is not None and now - token.last_used_at < LAST_USED_GRAIN
    )


def admit(*, token: ApiToken) -> float | None:
    """Count one request against the token's rate limit and note it as used.

    Returns None when the request may go ahead, else the seconds until the next
    minute's window opens (for `Retry-After`). The counter lives in the token's row
    and each step is one conditional UPDATE, so all worker processes share the limit.
    """
    now = timezone.now()
    limit = token.rate_limit_per_minute
    if limit is None:
        # "Last used" to the minute: a write per request would put a commit (an fsync
        # on SQLite) on every call's path for a figure nobody reads to the second. (The
        # queryset is built only then: building it costs more than the rest of the check.)
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_GRAIN:
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return None
    minute = now.replace(second=0, microsecond=0)
    rows = ApiToken.objects.filter
    # Same minute and room left: count it.
    if rows(pk=token.pk, window_start=minute, window_count__lt=limit).update(
        window_count=F("window_count") + 1, last_used_at=now
    ):
        return None
    # A new minute: start the window at one.
    fresh = Q(window_start__isnull=True) | Q(window_start__lt=minute)
    if rows(fresh, pk=token.pk).update(window_start=minute, window_count=1, last_used_at=now):
        return None
    return max(1.0, 60 - (now - minute).total_seconds())
