"""The gateway's fast path under uvicorn: what it keeps from Django's handler, and more.

`make serve` answers /v1/ without Django's request handler (aiconfig/gateway/handler.py):
connections stay open between requests, the configuration the token check read is
the one the call runs on, and log rows are written after the answer. These tests
drive a running server with the official SDKs and check what a client or an
operator would notice: a revoked token and a changed assignment take effect on the
very next call, no row goes missing, and the rest of issue 11's list (Anthropic's
429s, a hang-up mid-stream, oversized bodies, wrong methods, no key anywhere).
"""

# ruff: noqa: F811 - the tests take the `gateway` fixture imported from test_gateway

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import FAKE_KEYS
from tests.test_gateway import HELLO, Gateway, claude, gateway  # noqa: F401 - the fixture


def rows_for(gateway: Gateway, request_id: str) -> list[dict[str, Any]]:
    """The call-log rows of one request, waiting briefly: they are written after the answer."""
    deadline = time.monotonic() + 10
    while True:
        rows = [c for c in gateway.dump()["calls"] if c["request_id"] == request_id]
        if rows or time.monotonic() > deadline:
            return rows
        time.sleep(0.1)


def test_a_revoked_token_is_refused_on_its_very_next_call(gateway: Gateway) -> None:
    made = gateway.manage.json("ai_token", "create", "soon-gone", "--json", env=gateway.env)
    client = gateway.client(made["token"])
    assert client.chat.completions.create(model="text", messages=HELLO).choices
    gateway.manage("ai_token", "revoke", "soon-gone", env=gateway.env)
    with pytest.raises(openai.AuthenticationError) as raised:
        client.chat.completions.create(model="text", messages=HELLO)
    assert "revoked" in raised.value.message


def test_a_changed_assignment_answers_from_the_very_next_call(gateway: Gateway) -> None:
    client = gateway.client()
    before = client.chat.completions.with_raw_response.create(model="agent", messages=HELLO)
    assert before.headers["x-aiconfig-model"] == "gpt-4o-mini"
    gateway.manage("ai_config", "set", "agent", "--provider", "anthropic",
                   "--model", "claude-haiku-4-5", env=gateway.env)  # fmt: skip
    try:
        after = client.chat.completions.with_raw_response.create(model="agent", messages=HELLO)
        assert after.headers["x-aiconfig-provider"] == "anthropic"
        assert after.headers["x-aiconfig-model"] == "claude-haiku-4-5"
    finally:
        gateway.manage("ai_config", "set", "agent", "--provider", "openai",
                       "--model", "gpt-4o-mini", env=gateway.env)  # fmt: skip


def test_every_call_of_a_crowd_is_logged_with_its_token(gateway: Gateway) -> None:
    async def crowd() -> list[str]:
        async with openai.AsyncOpenAI(
            base_url=f"{gateway.url}/v1", api_key=gateway.tokens["full"], max_retries=0
        ) as client:

            async def one(i: int) -> str:
                if i % 2:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="text", messages=HELLO, stream=True
                    )
                    [_ async for _ in raw.parse()]
                else:
                    raw = await client.chat.completions.with_raw_response.create(
                        model="text", messages=HELLO
                    )
                return raw.headers["x-aiconfig-request-id"]

            return list(await asyncio.gather(*(one(i) for i in range(20))))

    ids = set(asyncio.run(crowd()))
    assert len(ids) == 20
    deadline = time.monotonic() + 10
    logged: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        logged = [c for c in gateway.dump()["calls"] if c["request_id"] in ids]
        if len(logged) == 20:
            break
        time.sleep(0.2)
    assert (
        sorted((c["outcome"], c["api_token"], c["source"]) for c in logged)
        == [("success", "full", "api")] * 20
    )


@pytest.mark.parametrize("budget", [False, True], ids=["rate-limit", "budget"])
def test_the_anthropic_sdk_gets_its_rate_limit_error(gateway: Gateway, budget: bool) -> None:
    if not budget and time.gmtime().tm_sec > 50:  # the window is the calendar minute
        time.sleep(61 - time.gmtime().tm_sec)
    name = f"claude-{'budget' if budget else 'limited'}"
    limit = ["--budget", "0.00000001"] if budget else ["--rate-limit", "1"]
    made = gateway.manage.json("ai_token", "create", name, *limit, "--json", env=gateway.env)
    client = claude(gateway, made["token"])
    client.messages.create(model="text", max_tokens=10, messages=HELLO)
    with pytest.raises(anthropic.RateLimitError) as raised:
        client.messages.create(model="text", max_tokens=10, messages=HELLO)
    assert raised.value.status_code == 429
    assert raised.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]
    assert int(raised.value.response.headers["retry-after"]) >= 1
    says = "Monthly budget exceeded" if budget else "1 requests a minute"
    assert says in raised.value.message


def test_an_anthropic_client_that_hangs_up_mid_stream_cancels_the_provider_request(
    gateway: Gateway,
) -> None:
    gateway.fake.disconnects.clear()
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/messages",
        headers={"x-api-key": gateway.tokens["full"], "anthropic-version": "2023-06-01"},
        json={"model": "stall", "max_tokens": 50, "messages": HELLO, "stream": True},
        timeout=20,
    ) as response:
        request_id = response.headers["x-aiconfig-request-id"]
        assert next(line for line in response.iter_lines() if "text_delta" in line)
    deadline = time.monotonic() + 10
    while "stall-after-first" not in gateway.fake.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "stall-after-first" in gateway.fake.disconnects
    assert [c["outcome"] for c in rows_for(gateway, request_id)] == ["cancelled"]


def test_a_body_over_the_upload_limit_is_a_413_in_the_clients_format(gateway: Gateway) -> None:
    huge = "x" * 3_000_000  # DATA_UPLOAD_MAX_MEMORY_SIZE is 2.5 MB by default
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.client().chat.completions.create(
            model="text", messages=[{"role": "user", "content": huge}]
        )
    assert raised.value.status_code == 413
    assert "DATA_UPLOAD_MAX_MEMORY_SIZE" in raised.value.message
    with pytest.raises(anthropic.APIStatusError) as anthropic_raised:
        claude(gateway).messages.create(
            model="text", max_tokens=10, messages=[{"role": "user", "content": huge}]
        )
    assert anthropic_raised.value.status_code == 413
    assert anthropic_raised.value.body["error"]["type"] == "request_too_large"  # type: ignore[index]


def test_a_wrong_method_is_a_405_naming_the_right_one(gateway: Gateway) -> None:
    answer = httpx.get(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.tokens['full']}"},
    )
    assert answer.status_code == 405
    assert answer.json()["error"]["message"] == "Use POST for /v1/chat/completions."


def test_no_answer_carries_a_provider_key_or_address(gateway: Gateway) -> None:
    bearer = {"Authorization": f"Bearer {gateway.tokens['full']}"}
    url = f"{gateway.url}/v1/chat/completions"
    answers = [
        httpx.post(url, headers=bearer, json={"model": model, "messages": HELLO, "stream": s})
        for model in ("text", "backup", "broken", "nope")
        for s in (False, True)
    ]
    answers.append(httpx.post(url, json={"model": "text", "messages": HELLO}))
    answers.append(httpx.get(f"{gateway.url}/v1/models", headers=bearer))
    assert sorted({a.status_code for a in answers}) == [200, 401, 404, 502]
    address = gateway.fake.url.split("//")[1]
    for answer in answers:
        seen = answer.text + json.dumps(dict(answer.headers))
        assert address not in seen
        for key in FAKE_KEYS.values():
            assert key not in seen


def test_the_fast_path_routes_every_gateway_url_to_the_same_view() -> None:
    """A path added to the gateway's urls.py must not be a 404 under `make serve`."""
    from aiconfig.gateway import urls
    from aiconfig.gateway.handler import ROUTES

    named = {f"/v1/{p.pattern}": p.callback for p in urls.urlpatterns if p.name != "not_found"}
    assert named == ROUTES
