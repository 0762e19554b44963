"""The HTTP gateway (/v1/) under uvicorn, driven by the official `openai` SDK and plain httpx.

One uvicorn worker serves a fresh database whose providers all point at the fake
provider; tokens are made with the real services. Every error is checked by the
exception the SDK raises, as an app using it would see it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import FAKE_KEYS, ROOT, Manage, _postgres_fresh_database, provider_env
from tests.fake_provider import FakeProvider
from tests.test_production_settings import free_port

# Tasks the server is configured with (env seeding, as the README documents it).
TASK_ENV = {
    "AI_TEXT_PROVIDER": "openai",
    "AI_TEXT_MODEL": "gpt-4o-mini",
    "AI_AGENT_PROVIDER": "openai",
    "AI_AGENT_MODEL": "gpt-4o-mini",
    "AI_IMAGE_PROVIDER": "openai",
    "AI_IMAGE_MODEL": "gpt-image-1",
    # Primary down, the fallback answers.
    "AI_BACKUP_PROVIDER": "openai",
    "AI_BACKUP_MODEL": "fail-503",
    "AI_BACKUP_FALLBACK_PROVIDER": "anthropic",
    "AI_BACKUP_FALLBACK_MODEL": "claude-haiku-4-5",
    # Both down.
    "AI_BROKEN_PROVIDER": "openai",
    "AI_BROKEN_MODEL": "fail-500",
    "AI_BROKEN_FALLBACK_PROVIDER": "anthropic",
    "AI_BROKEN_FALLBACK_MODEL": "fail-529",
    # One token, then silence until the client hangs up.
    "AI_STALL_PROVIDER": "openai",
    "AI_STALL_MODEL": "stall-after-first",
    # Never answers (until the client hangs up).
    "AI_HANG_PROVIDER": "openai",
    "AI_HANG_MODEL": "hang",
}

MAKE_TOKENS = """
import json
from aiconfig.services.tokens import create_token, revoke_token
out = {
    "full": create_token(name="full").secret,
    "textonly": create_token(name="textonly", tasks=["text"]).secret,
    "limited": create_token(name="limited", rate_limit_per_minute=2).secret,
    "budget": create_token(name="budget", monthly_budget_usd="0.00000001").secret,
    "revoked": create_token(name="revoked").secret,
}
revoke_token(name="revoked")
print(json.dumps(out))
"""

DUMP = """
import json
from aiconfig.models import ApiToken, CallLog
print(json.dumps({
    "tokens": list(ApiToken.objects.values()),
    "calls": list(CallLog.objects.values(
        "request_id", "task", "provider", "model", "outcome", "source", "api_token",
        "error_message", "attempt")),
}, default=str))
"""


@dataclass
class Gateway:
    """The running server: its base URL, the tokens made for it, its database."""

    url: str
    tokens: dict[str, str]
    manage: Manage
    fake: FakeProvider
    env: dict[str, str]

    def client(self, token: str = "full", timeout: float = 20) -> openai.OpenAI:
        """The official SDK pointed at the gateway, retries off (we test single answers)."""
        return openai.OpenAI(
            base_url=f"{self.url}/v1",
            api_key=self.tokens.get(token, token),
            max_retries=0,
            timeout=timeout,
        )

    def dump(self) -> dict[str, Any]:
        """Every token row and call-log row, as stored."""
        return json.loads(self.manage("shell", "--no-imports", "-c", DUMP, env=self.env).stdout)


@pytest.fixture(scope="module")
def gateway(
    tmp_path_factory: pytest.TempPathFactory, _fake_provider_server: FakeProvider
) -> Iterator[Gateway]:
    workdir = tmp_path_factory.mktemp("gateway")
    url = os.environ.get("DATABASE_URL", "")
    drop = None
    if url.startswith(("postgres://", "postgresql://")):
        database_url, drop = _postgres_fresh_database(url)
    else:
        database_url = f"sqlite:///{workdir / 'db.sqlite3'}"
    manage = Manage(database_url, workdir)
    env = {**provider_env(_fake_provider_server), **TASK_ENV}
    manage("migrate", "--no-input", env=env)
    tokens = json.loads(manage("shell", "--no-imports", "-c", MAKE_TOKENS, env=env).stdout)
    port = free_port()
    log_path = workdir / "uvicorn.log"
    uvicorn = [sys.executable, "-m", "uvicorn", "aiconfig.asgi:application", "--lifespan", "off"]
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [*uvicorn, "--workers", "1", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env={**manage.base_env(), **env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"{base_url}/v1/models", timeout=1, trust_env=False)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"uvicorn did not start:\n{log_path.read_text()}")
                time.sleep(0.2)
        yield Gateway(base_url, tokens, manage, _fake_provider_server, env)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        if drop is not None:
            drop()


HELLO = [{"role": "user", "content": "Say hello"}]


def test_a_task_answers_through_the_openai_sdk_with_who_answered(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(model="text", messages=HELLO)
    completion = raw.parse()
    assert completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert completion.usage.total_tokens > 0
    assert raw.headers["x-aiconfig-provider"] == "openai"
    assert raw.headers["x-aiconfig-model"] == "gpt-4o-mini"
    assert raw.headers["x-aiconfig-fallback-used"] == "false"

    calls = [c for c in gateway.dump()["calls"] if c["request_id"] == raw.headers[
        "x-aiconfig-request-id"]]  # fmt: skip
    assert [(c["source"], c["api_token"], c["outcome"]) for c in calls] == [
        ("api", "full", "success")
    ]


def test_a_task_whose_primary_is_down_falls_back(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(model="backup", messages=HELLO)
    assert raw.parse().choices[0].message.content
    assert raw.headers["x-aiconfig-provider"] == "anthropic"
    assert raw.headers["x-aiconfig-model"] == "claude-haiku-4-5"
    assert raw.headers["x-aiconfig-fallback-used"] == "true"


def test_a_streamed_answer_arrives_in_chunks_with_usage_at_the_end(gateway: Gateway) -> None:
    raw = gateway.client().chat.completions.with_raw_response.create(
        model="backup",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
    )
    headers = raw.headers
    chunks = list(raw.parse())
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) > 1
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert headers["x-aiconfig-fallback-used"] == "true"
    assert headers["x-aiconfig-provider"] == "anthropic"

    # On the wire: server-sent events ending with OpenAI's terminator.
    body = httpx.post(
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.tokens['full']}"},
        json={"model": "text", "messages": HELLO, "stream": True},
        timeout=20,
    )
    assert body.headers["content-type"].startswith("text/event-stream")
    assert body.text.endswith("data: [DONE]\n\n")


def test_the_async_sdk_answers_plain_and_streamed(gateway: Gateway) -> None:
    async def both() -> tuple[str, str]:
        async with openai.AsyncOpenAI(
            base_url=f"{gateway.url}/v1", api_key=gateway.tokens["full"], max_retries=0
        ) as client:
            plain = await client.chat.completions.create(model="backup", messages=HELLO)
            stream = await client.chat.completions.create(model="text", messages=HELLO, stream=True)
            parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
        return plain.choices[0].message.content or "", "".join(parts)

    plain, streamed = asyncio.run(both())
    assert plain.strip()
    assert streamed.strip()


def test_tools_come_back_as_tool_calls_and_the_tool_result_goes_on(gateway: Gateway) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    client = gateway.client()
    first = client.chat.completions.create(
        model="agent", messages=[{"role": "user", "content": "Weather in Paris?"}], tools=tools
    )
    call = first.choices[0].message.tool_calls[0]
    assert first.choices[0].finish_reason == "tool_calls"
    assert call.function.name == "get_weather"
    assert "city" in json.loads(call.function.arguments)

    second = client.chat.completions.create(
        model="agent",
        tools=tools,
        messages=[
            {"role": "user", "content": "Weather in Paris?"},
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "sunny"},
        ],
    )
    assert second.choices[0].message.content == "Done: sunny"


def test_structured_output_follows_the_json_schema(gateway: Gateway) -> None:
    schema = {
        "type": "object",
        "properties": {"title": {"type": "string"}, "year": {"type": "integer"}},
        "required": ["title", "year"],
    }
    answer = gateway.client().chat.completions.create(
        model="agent",
        messages=[{"role": "user", "content": "A film"}],
        response_format={"type": "json_schema", "json_schema": {"name": "film", "schema": schema}},
    )
    data = json.loads(answer.choices[0].message.content or "")
    assert isinstance(data["title"], str)
    assert isinstance(data["year"], int)


def test_an_image_task_answers_with_b64_json(gateway: Gateway) -> None:
    images = gateway.client().images.generate(model="image", prompt="A red square", n=1)
    assert base64.b64decode(images.data[0].b64_json or "").startswith(b"\x89PNG")


def test_models_lists_the_tasks_the_token_may_call(gateway: Gateway) -> None:
    everything = {m.id for m in gateway.client().models.list()}
    assert {"text", "agent", "image", "backup", "broken"} <= everything
    assert [m.id for m in gateway.client("textonly").models.list()] == ["text"]


@pytest.mark.parametrize(
    ("token", "model", "extra", "error", "status", "says"),
    [
        ("aic_not-a-real-token", "text", {}, openai.AuthenticationError, 401, "Invalid API token"),
        ("revoked", "text", {}, openai.AuthenticationError, 401, "Invalid API token"),
        ("textonly", "agent", {}, openai.PermissionDeniedError, 403, "may not call task 'agent'"),
        ("textonly", "nope", {}, openai.PermissionDeniedError, 403, "may not call task 'nope'"),
        ("full", "nope", {}, openai.NotFoundError, 404, "The model 'nope' does not exist"),
        ("full", "image", {}, openai.BadRequestError, 400, "produces image"),
        ("full", "text", {"temperature": 5}, openai.BadRequestError, 400, "'temperature'"),
        ("full", "broken", {}, openai.APIStatusError, 502, "openai/fail-500"),
    ],
    ids=[
        "wrong-token",
        "revoked",
        "task-not-allowed",
        "unknown-task-not-allowed",
        "unknown-task",
        "wrong-kind",
        "bad-field",
        "all-failed",
    ],
)
def test_errors_raise_the_sdks_usual_exceptions(
    gateway: Gateway,
    token: str,
    model: str,
    extra: dict[str, Any],
    error: type[openai.APIStatusError],
    status: int,
    says: str,
) -> None:
    with pytest.raises(error) as raised:
        gateway.client(token).chat.completions.create(model=model, messages=HELLO, **extra)
    assert raised.value.status_code == status
    assert says in raised.value.message


def test_no_token_at_all_is_401_in_openais_format(gateway: Gateway) -> None:
    answer = httpx.post(
        f"{gateway.url}/v1/chat/completions", json={"model": "text", "messages": HELLO}
    )
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    assert "Authorization: Bearer aic_" in answer.json()["error"]["message"]


def test_every_failed_attempt_is_named_and_no_secret_leaks(gateway: Gateway) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        gateway.client().chat.completions.create(model="broken", messages=HELLO)
    message = raised.value.message
    assert "openai/fail-500" in message
    assert "anthropic/fail-529" in message
    body = raised.value.response.text
    for key in FAKE_KEYS.values():
        assert key not in body
    assert gateway.fake.url.split("//")[1] not in body  # no provider base URL either


def test_a_bad_field_is_named_in_param(gateway: Gateway) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        gateway.client().chat.completions.create(
            model="text", messages=[{"role": "wizard", "content": "hi"}]
        )
    assert raised.value.body["param"] == "messages[0].role"  # type: ignore[index]


def test_a_rate_limited_token_gets_429_with_retry_after(gateway: Gateway) -> None:
    if time.gmtime().tm_sec > 50:  # the window is the calendar minute: don't straddle it
        time.sleep(61 - time.gmtime().tm_sec)
    client = gateway.client("limited")
    for _ in range(2):
        client.chat.completions.create(model="text", messages=HELLO)
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="text", messages=HELLO)
    assert "2 requests a minute" in raised.value.message
    assert 1 <= int(raised.value.response.headers["retry-after"]) <= 60


def test_a_token_over_its_monthly_budget_is_refused(gateway: Gateway) -> None:
    client = gateway.client("budget")
    client.chat.completions.create(model="text", messages=HELLO)  # spends more than the budget
    with pytest.raises(openai.RateLimitError) as raised:
        client.chat.completions.create(model="text", messages=HELLO)
    assert "Monthly budget exceeded" in raised.value.message
    assert raised.value.code == "budget_exceeded"


def test_a_client_that_hangs_up_mid_stream_cancels_the_provider_request(
    gateway: Gateway,
) -> None:
    with httpx.stream(
        "POST",
        f"{gateway.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {gateway.tokens['full']}"},
        json={"model": "stall", "messages": HELLO, "stream": True},
        timeout=20,
    ) as response:
        request_id = response.headers["x-aiconfig-request-id"]
        lines = response.iter_lines()
        assert next(line for line in lines if '"content":"' in line and "Hello" in line)
    deadline = time.monotonic() + 10
    while "stall-after-first" not in gateway.fake.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "stall-after-first" in gateway.fake.disconnects
    calls = [c for c in gateway.dump()["calls"] if c["request_id"] == request_id]
    assert [c["outcome"] for c in calls] == ["cancelled"]


def test_a_client_that_gives_up_waiting_cancels_the_provider_request(gateway: Gateway) -> None:
    with pytest.raises(openai.APITimeoutError):
        gateway.client(timeout=1.0).chat.completions.create(model="hang", messages=HELLO)
    deadline = time.monotonic() + 10
    while "hang" not in gateway.fake.disconnects and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "hang" in gateway.fake.disconnects
    outcomes: list[str] = []
    while time.monotonic() < deadline and not outcomes:
        outcomes = [c["outcome"] for c in gateway.dump()["calls"] if c["task"] == "hang"]
    assert outcomes == ["cancelled"]


def test_tokens_are_stored_only_as_a_hash(gateway: Gateway) -> None:
    stored = json.dumps(gateway.dump()["tokens"])
    for secret in gateway.tokens.values():
        assert secret.startswith("aic_")
        assert secret not in stored
        assert hashlib.sha256(secret.encode()).hexdigest() in stored


# --- the Anthropic SDK ---------------------------------------------------------------------


def claude(gateway: Gateway, token: str = "full") -> anthropic.Anthropic:
    """The official Anthropic SDK pointed at the gateway (it sends the token as x-api-key)."""
    return anthropic.Anthropic(
        base_url=gateway.url, api_key=gateway.tokens.get(token, token), max_retries=0, timeout=20
    )


def test_the_anthropic_sdk_gets_a_message_from_the_fallback(gateway: Gateway) -> None:
    raw = claude(gateway).messages.with_raw_response.create(
        model="backup", max_tokens=100, system="Be brief.", messages=HELLO
    )
    message = raw.parse()
    assert message.content[0].type == "text"
    assert message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens > 0
    assert raw.headers["x-aiconfig-fallback-used"] == "true"


def test_the_anthropic_sdk_streams_text_events(gateway: Gateway) -> None:
    with claude(gateway).messages.stream(model="text", max_tokens=100, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert len(text.split()) > 1
    assert final.content[0].text == text
    assert final.stop_reason == "end_turn"


def test_the_async_anthropic_sdk_answers_plain_and_streamed(gateway: Gateway) -> None:
    async def both() -> tuple[str, str]:
        async with anthropic.AsyncAnthropic(
            base_url=gateway.url, api_key=gateway.tokens["full"], max_retries=0
        ) as client:
            plain = await client.messages.create(model="backup", max_tokens=50, messages=HELLO)
            async with client.messages.stream(
                model="text", max_tokens=50, messages=HELLO
            ) as stream:
                streamed = "".join([text async for text in stream.text_stream])
        return plain.content[0].text, streamed

    plain, streamed = asyncio.run(both())
    assert plain.strip()
    assert len(streamed.split()) > 1


def test_the_anthropic_sdk_uses_tools(gateway: Gateway) -> None:
    tools = [
        {
            "name": "get_weather",
            "description": "Weather for a city",
            "input_schema": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        }
    ]
    client = claude(gateway)
    question = {"role": "user", "content": "Weather in Paris?"}
    first = client.messages.create(model="agent", max_tokens=100, tools=tools, messages=[question])
    use = next(b for b in first.content if b.type == "tool_use")
    assert first.stop_reason == "tool_use"
    assert use.name == "get_weather"
    second = client.messages.create(
        model="agent",
        max_tokens=100,
        tools=tools,
        messages=[
            question,
            {"role": "assistant", "content": [b.model_dump() for b in first.content]},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}],
            },
        ],
    )
    assert second.content[0].text == "Done: sunny"


@pytest.mark.parametrize(
    ("token", "model", "error", "status"),
    [
        ("aic_wrong", "text", anthropic.AuthenticationError, 401),
        ("textonly", "agent", anthropic.PermissionDeniedError, 403),
        ("full", "nope", anthropic.NotFoundError, 404),
        ("limited-out", "text", anthropic.AuthenticationError, 401),
        ("full", "broken", anthropic.InternalServerError, 502),
    ],
    ids=["wrong-token", "not-allowed", "unknown-task", "unknown-token", "all-failed"],
)
def test_anthropic_errors_raise_the_sdks_usual_exceptions(
    gateway: Gateway, token: str, model: str, error: type[anthropic.APIStatusError], status: int
) -> None:
    with pytest.raises(error) as raised:
        claude(gateway, token).messages.create(model=model, max_tokens=10, messages=HELLO)
    assert raised.value.status_code == status
    assert raised.value.body["type"] == "error"  # type: ignore[index]


def test_an_anthropic_bad_field_is_a_400_naming_it(gateway: Gateway) -> None:
    with pytest.raises(anthropic.BadRequestError) as raised:
        claude(gateway).messages.create(
            model="text", max_tokens=10, messages=[{"role": "system", "content": "hi"}]
        )
    assert "messages.0.role" in raised.value.message


# --- the command line ---------------------------------------------------------------------


def test_ai_token_creates_lists_and_revokes(manage: Manage) -> None:
    manage("migrate", "--no-input")
    made = manage.json("ai_token", "create", "ci", "--tasks", "text", "--expires", "90d",
                       "--rate-limit", "60", "--budget", "5", "--json")  # fmt: skip
    assert made["token"].startswith("aic_")
    assert made["tasks"] == ["text"]
    assert made["prefix"] == made["token"][:12]
    listed = manage.json("ai_token", "list", "--json")["tokens"]
    assert [(t["name"], t["rate_limit_per_minute"], t["monthly_budget_usd"]) for t in listed] == [
        ("ci", 60, "5")
    ]
    assert made["token"] not in json.dumps(listed)
    assert "Revoked ci" in manage("ai_token", "revoke", "ci").stdout
    assert manage.json("ai_token", "list", "--json")["tokens"][0]["revoked_at"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--expires", "soon"], "is not a duration"),
        (["--tasks", "text,nope"], "Unknown task(s) nope"),
        (["--budget", "lots"], "is not a number of USD"),
        (["--rate-limit", "0"], "positive number of requests"),
    ],
)
def test_ai_token_refuses_bad_input_with_a_clear_line(
    manage: Manage, args: list[str], says: str
) -> None:
    manage("migrate", "--no-input")
    result = manage("ai_token", "create", "ci", *args, check=False)
    assert result.returncode != 0
    assert says in result.stderr
    assert "Traceback" not in result.stderr
    assert manage.json("ai_token", "list", "--json")["tokens"] == []


def test_an_unknown_endpoint_is_a_json_404(gateway: Gateway) -> None:
    answer = httpx.post(f"{gateway.url}/v1/embeddings", json={"model": "text", "input": "x"})
    assert answer.status_code == 404
    assert answer.json()["error"]["message"] == "Unknown endpoint: POST /v1/embeddings."
