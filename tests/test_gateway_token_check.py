"""The token check decided on the event loop (aiconfig.gateway.loop_lookup): same answers.

The fast path reads the token's row on the loop and decides from it and the cached
configuration; anything that needs the database more (a budget, a rate limit, "last
used" to note, a configuration not yet loaded) goes to the full check in a thread.
These tests hold the two to the same answers, and show that a broken loop connection
costs a request nothing but the thread hop.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from django.utils import timezone

from aiconfig.gateway import loop_lookup
from aiconfig.gateway.access import authorize, authorize_in_memory
from aiconfig.gateway.errors import GatewayError
from aiconfig.models import ApiToken
from aiconfig.selectors import config_snapshot
from aiconfig.services.tokens import create_token, revoke_token

pytestmark = pytest.mark.django_db(transaction=True)


def on_loop(secret: str) -> tuple[ApiToken | None, int]:
    async def look() -> tuple[ApiToken | None, int] | None:
        try:
            return await loop_lookup.find(secret)
        finally:
            # Each asyncio.run is a new loop, and an async connection belongs to its own.
            await loop_lookup._connection.close()

    found = asyncio.run(look())
    assert found is not None, "the lookup should run on the loop"
    return found


def decide(secret: str, task: str | None = "text") -> object:
    """What the loop-side check answers: a Grant, None (to the thread) or the error."""
    token, version = on_loop(secret)
    try:
        return authorize_in_memory(token=token, version=version, task=task)
    except GatewayError as error:
        return error.status


@pytest.fixture
def loop_database() -> None:
    if not loop_lookup.usable():
        pytest.skip("the lookup runs on the loop on SQLite and PostgreSQL only")


def test_a_used_token_is_let_in_on_the_loop_as_by_the_full_check(
    loop_database: None,
) -> None:
    secret = create_token(name="app").secret
    full = authorize(secret=secret, task="text")  # notes "last used"
    config_snapshot()  # the configuration, cached as the first request leaves it
    assert decide(secret) == full


def test_revoked_expired_unknown_tokens_are_refused_on_the_loop(loop_database: None) -> None:
    revoked = create_token(name="gone").secret
    revoke_token(name="gone")
    expired = create_token(name="old").secret
    ApiToken.objects.filter(name="old").update(expires_at=timezone.now() - timedelta(seconds=1))
    config_snapshot()
    assert decide(revoked) == decide(expired) == decide("aic_not-a-token") == 401


def test_a_task_outside_the_tokens_list_is_refused_on_the_loop(loop_database: None) -> None:
    secret = create_token(name="narrow", tasks=["text"]).secret
    authorize(secret=secret, task="text")
    config_snapshot()
    assert decide(secret, "image") == 403
    assert decide(secret, "no-such-task") == 403


@pytest.mark.parametrize(
    "limits",
    [{"rate_limit_per_minute": 5}, {"monthly_budget_usd": "1"}, {}],
    ids=["rate limit", "budget", "never used"],
)
def test_what_needs_the_database_goes_to_the_full_check(loop_database: None, limits: dict) -> None:
    secret = create_token(name="limited", **limits).secret
    if limits:
        authorize(secret=secret, task="text")
    config_snapshot()
    assert decide(secret) is None


def test_a_broken_loop_connection_sends_one_request_to_the_thread(loop_database: None) -> None:
    secret = create_token(name="app").secret

    async def break_then_look_twice() -> tuple[object, object]:
        await loop_lookup.find(secret)
        loop = loop_lookup._connection  # closed under it, as a database restart would
        if loop.aconn is not None:
            await loop.aconn.close()
        else:
            loop.wrapper.connection.close()
        try:
            return await loop_lookup.find(secret), await loop_lookup.find(secret)
        finally:
            await loop.close()

    broken, reopened = asyncio.run(break_then_look_twice())
    assert broken is None
    assert reopened is not None
    assert reopened[0].name == "app"
