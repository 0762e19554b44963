"""Reads for the HTTP gateway's API tokens: lookup by secret, lists, monthly spend."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from aiconfig.models import ApiToken, CallLog


def hash_secret(secret: str) -> str:
    """The stored form of a token: sha256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def find_token(*, secret: str) -> ApiToken | None:
    """The token row for a presented secret (revoked and expired ones included), or None."""
    return ApiToken.objects.filter(secret_hash=hash_secret(secret)).first()


def list_tokens() -> list[ApiToken]:
    """Every token, revoked ones included, by name."""
    return list(ApiToken.objects.select_related("created_by").order_by("name"))


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar month (UTC), when monthly budgets reset."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def token_month_spend(*, name: str) -> Decimal:
    """What a token's calls have cost this calendar month, in USD."""
    total = CallLog.objects.filter(api_token=name, created_at__gte=month_start()).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return total or Decimal(0)
