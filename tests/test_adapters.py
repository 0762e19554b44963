"""The adapters, driven through the real OpenAI and Anthropic SDKs against the local fake server.

No Django and no database: run with `pytest tests/test_adapters.py -p no:django` if need be.
"""

from __future__ import annotations

import asyncio
import json
import pickle
import time
import traceback
from collections.abc import Callable, Iterator

import pytest

from adapters import (
    DEFAULT_BASE_URLS,
    Adapter,
    AdapterError,
    AnthropicAdapter,
    AuthenticationFailed,
    CapabilityNotSupported,
    ChatMessage,
    ChatRequest,
    ClientConfig,
    ImageRequest,
    InvalidRequest,
    ModelNotFound,
    OpenAIAdapter,
    OpenAICompatibleAdapter,
    ProviderError,
    ProviderNotInitialized,
    RateLimited,
    StructuredRequest,
    TextRequest,
    TextResult,
    TextStream,
    TimedOut,
    ToolCall,
    ToolSpec,
    Usage,
    build_adapter,
    redact,
)
from tests.fake_provider import (
    ANTHROPIC_MODELS,
    OPENAI_MODELS,
    PNG_BYTES,
    FakeProvider,
    RecordedRequest,
    closed_port_url,
    example_from_schema,
)

KEY = "sk-test-0123456789abcdef"
BAD_KEY = "sk-bad-9876543210SECRETKEY"
KINDS = ("openai", "anthropic", "openai_compatible")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

REVIEW_SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string"},
        "rating": {"type": "integer", "minimum": 1, "maximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "minItems": 3},
        "mood": {"enum": ["happy", "sad"]},
        "author": {"$ref": "#/$defs/person"},
    },
    "required": ["title", "rating"],
    "$defs": {
        "person": {
            "type": "object",
            "properties": {"name": {"type": "string"}, "verified": {"type": "boolean"}},
        }
    },
}
REVIEW_EXAMPLE = {
    "title": "title 1",
    "rating": 1,
    "tags": ["tags 1", "tags 2", "tags 3"],
    "mood": "happy",
    "author": {"name": "name 1", "verified": True},
}
WEATHER = ToolSpec(
    name="get_weather",
    description="Current weather for a city",
    parameters={
        "type": "object",
        "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
        "required": ["city"],
    },
)


@pytest.fixture(autouse=True)
def _fresh_config_cache() -> None:
    """Shadows the Django-backed autouse fixture in conftest: these tests need no Django."""


MakeAdapter = Callable[..., Adapter]


@pytest.fixture
def make_adapter(fake_provider: FakeProvider) -> Iterator[MakeAdapter]:
    """Build adapters pointed at the fake server; all are closed after the test."""
    built: list[Adapter] = []

    def make(
        kind: str,
        *,
        api_key: str | None = KEY,
        timeout: float = 5.0,
        base_url: str | None = None,
        key_env: str | None = None,
    ) -> Adapter:
        if base_url is None:
            base_url = (
                fake_provider.anthropic_base_url
                if kind == "anthropic"
                else fake_provider.openai_base_url
            )
        config = ClientConfig(
            kind=kind,
            provider_name=kind,
            base_url=base_url,
            api_key=api_key,
            timeout_seconds=timeout,
            key_env=key_env,
        )
        adapter = build_adapter(config)
        built.append(adapter)
        return adapter

    yield make
    for adapter in built:
        adapter.close()


def only_request(fake: FakeProvider) -> RecordedRequest:
    """The single request the fake received (fails if there were more, e.g. SDK retries)."""
    requests = fake.requests
    assert len(requests) == 1, [f"{r.method} {r.path}" for r in requests]
    return requests[0]


def body_of(request: RecordedRequest) -> dict[str, object]:
    """A recorded request's JSON body (which must exist)."""
    assert request.body is not None
    return request.body


def drain(stream: TextStream, into: list[str]) -> None:
    """Read a stream to the end, collecting its deltas."""
    for delta in stream:
        into.append(delta)


def sent_key(request: RecordedRequest) -> str | None:
    """The API key a request carried, whichever header the SDK used."""
    if "x-api-key" in request.headers:
        return request.headers["x-api-key"]
    auth = request.headers.get("authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


# --- text -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_generate_text(kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider) -> None:
    adapter = make_adapter(kind)
    result = adapter.generate_text(
        TextRequest(
            model="model-a",
            prompt="Please say hello to everyone",
            system="Be brief",
            max_tokens=50,
            temperature=0.3,
        )
    )

    assert result.text == "Hello from model-a: Please say hello to everyone"
    assert result.model == "model-a"
    # 5 prompt words + 2 system words in; 8 words out.
    assert result.usage == Usage(input_tokens=7, output_tokens=8)
    assert result.latency_ms > 0
    assert result.finish_reason in ("stop", "end_turn")

    request = only_request(fake_provider)
    body = body_of(request)
    assert sent_key(request) == KEY
    assert request.headers["x-stainless-retry-count"] == "0"
    assert body["temperature"] == 0.3
    if kind == "anthropic":
        assert request.path == "/v1/messages"
        assert "anthropic-version" in request.headers
        assert body["system"] == "Be brief"
        assert body["max_tokens"] == 50
        assert body["messages"] == [{"role": "user", "content": "Please say hello to everyone"}]
    else:
        assert request.path == "/v1/chat/completions"
        assert body["messages"] == [
            {"role": "system", "content": "Be brief"},
            {"role": "user", "content": "Please say hello to everyone"},
        ]
        token_param = "max_completion_tokens" if kind == "openai" else "max_tokens"
        assert body[token_param] == 50
        assert len({"max_tokens", "max_completion_tokens"} & body.keys()) == 1


@pytest.mark.parametrize("kind", KINDS)
def test_generate_text_omits_unset_options(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    make_adapter(kind).generate_text(TextRequest(model="model-a", prompt="hi"))

    body = body_of(only_request(fake_provider))
    assert "temperature" not in body
    assert "system" not in body
    if kind == "anthropic":
        assert body["max_tokens"] == 1024  # the API requires it
    else:
        assert not {"max_tokens", "max_completion_tokens"} & body.keys()


@pytest.mark.parametrize("kind", KINDS)
def test_generate_text_truncated_by_max_tokens(kind: str, make_adapter: MakeAdapter) -> None:
    result = make_adapter(kind).generate_text(
        TextRequest(model="model-a", prompt="one two three four", max_tokens=3)
    )

    assert result.text == "Hello from model-a:"
    assert result.finish_reason in ("length", "max_tokens")


# --- streaming ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_stream_text(kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider) -> None:
    stream = make_adapter(kind).stream_text(
        TextRequest(model="model-s", prompt="stream these words please", system="Be brief")
    )
    deltas = list(stream)

    expected = "Hello from model-s: stream these words please"
    assert len(deltas) > 1
    assert "".join(deltas) == expected
    result = stream.result
    assert result is not None
    assert result.text == expected
    assert result.model == "model-s"
    assert result.usage == Usage(input_tokens=6, output_tokens=7)
    assert result.latency_ms > 0
    assert result.finish_reason in ("stop", "end_turn")

    body = body_of(only_request(fake_provider))
    assert body["stream"] is True
    if kind != "anthropic":
        assert body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("kind", KINDS)
def test_stream_http_error_raises_before_first_delta(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError) as info:
        adapter.stream_text(TextRequest(model="fail-500", prompt="hi"))

    assert info.value.status_code == 500
    only_request(fake_provider)


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
def test_json_of_the_wrong_shape_is_unreadable(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    request = TextRequest(model="odd-shape", prompt="hi")
    with pytest.raises(ProviderError, match="unreadable response"):
        adapter.generate_text(request)
    with pytest.raises(ProviderError, match="unreadable response"):
        list(adapter.stream_text(request))
    with pytest.raises(ProviderError, match="unreadable response"):
        asyncio.run(adapter.agenerate_text(request))

    async def stream_async() -> list[str]:
        return [delta async for delta in await adapter.astream_text(request)]

    with pytest.raises(ProviderError, match="unreadable response"):
        asyncio.run(stream_async())


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
def test_a_stream_whose_chunks_have_no_index_is_read_whole(
    kind: str, make_adapter: MakeAdapter
) -> None:
    adapter = make_adapter(kind)
    request = TextRequest(model="no-index", prompt="count these words")

    async def stream_async() -> tuple[list[str], TextResult | None]:
        stream = await adapter.astream_text(request)
        deltas = [delta async for delta in stream]
        return deltas, stream.result

    deltas, result = asyncio.run(stream_async())
    assert "".join(deltas) == "Hello from no-index: count these words"
    assert result is not None
    assert result.finish_reason == "stop"
    assert result.usage.output_tokens == 6  # words, as the fake counts them


@pytest.mark.parametrize("kind", KINDS)
def test_stream_of_html_is_refused_when_opened(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError, match="unreadable response"):
        adapter.stream_text(TextRequest(model="garbage", prompt="hi"))


@pytest.mark.parametrize("kind", KINDS)
def test_stream_broken_mid_way_raises_while_iterating(kind: str, make_adapter: MakeAdapter) -> None:
    stream = make_adapter(kind).stream_text(
        TextRequest(model="break-stream", prompt="one two three four")
    )
    received: list[str] = []

    with pytest.raises(AdapterError) as info:
        drain(stream, received)

    assert received == ["Hello "]
    assert info.value.kind == "provider_error"
    assert info.value.provider == kind
    assert "connection lost" in str(info.value)
    assert stream.result is None


@pytest.mark.parametrize("kind", KINDS)
def test_stream_error_event_raises_while_iterating(kind: str, make_adapter: MakeAdapter) -> None:
    stream = make_adapter(kind).stream_text(TextRequest(model="error-stream", prompt="a b c"))
    received: list[str] = []

    with pytest.raises(ProviderError, match="overloaded") as info:
        drain(stream, received)

    assert received == ["Hello "]
    # The HTTP status was 200; the error came inside the stream.
    assert info.value.status_code is None


@pytest.mark.parametrize("kind", KINDS)
def test_stream_can_be_closed_early(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    with adapter.stream_text(TextRequest(model="model-s", prompt="a b c d e f")) as stream:
        first = next(stream)
    assert first == "Hello "
    assert list(stream) == []
    assert stream.result is None
    # The connection went back to a usable state: the adapter still works.
    assert adapter.generate_text(TextRequest(model="model-s", prompt="again")).text


# --- images -------------------------------------------------------------------------------


def test_openai_dalle_images_are_requested_as_base64(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter("openai").generate_image(
        ImageRequest(model="dall-e-3", prompt="a red fox", size="1024x1792", quality="hd", n=2)
    )

    assert len(result.images) == 2
    for image in result.images:
        assert image.data == PNG_BYTES
        assert image.data.startswith(PNG_SIGNATURE)
        assert image.mime_type == "image/png"
        assert image.revised_prompt == "A picture of a red fox"
    assert result.model == "dall-e-3"
    assert result.usage.image_count == 2
    assert result.latency_ms > 0

    request = only_request(fake_provider)
    assert request.path == "/v1/images/generations"
    assert body_of(request) == {
        "model": "dall-e-3",
        "prompt": "a red fox",
        "size": "1024x1792",
        "n": 2,
        "quality": "hd",
        "response_format": "b64_json",
    }


def test_openai_gpt_image_never_sends_response_format(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter("openai").generate_image(
        ImageRequest(model="gpt-image-1", prompt="a small blue boat")
    )

    [image] = result.images
    assert image.data.startswith(PNG_SIGNATURE)
    assert result.usage == Usage(input_tokens=4, output_tokens=272, image_count=1)
    assert "response_format" not in body_of(only_request(fake_provider))


def test_image_urls_are_downloaded_without_the_api_key(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter("openai_compatible").generate_image(
        ImageRequest(model="flux-schnell", prompt="a lighthouse")
    )

    [image] = result.images
    assert image.data == PNG_BYTES
    assert image.mime_type == "image/png"
    generate, download = fake_provider.requests
    assert generate.path == "/v1/images/generations"
    assert (download.method, download.path) == ("GET", "/files/image-1.png")
    assert "authorization" not in download.headers
    assert KEY not in json.dumps(download.headers)


def test_anthropic_refuses_images_without_a_request(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter("anthropic")
    with pytest.raises(CapabilityNotSupported) as info:
        adapter.generate_image(ImageRequest(model="claude-sonnet-4-5", prompt="a cat"))

    assert str(info.value) == (
        "Anthropic does not generate images ('claude-sonnet-4-5'). "
        "Assign an image model instead, e.g. openai/dall-e-3."
    )
    assert info.value.kind == "capability_not_supported"
    assert fake_provider.requests == []


@pytest.mark.parametrize("kind", ["openai", "openai_compatible"])
def test_image_failures_are_mapped(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ModelNotFound, match="'missing-painter' not found"):
        adapter.generate_image(ImageRequest(model="missing-painter", prompt="x"))
    with pytest.raises(ProviderError, match="unreadable response"):
        adapter.generate_image(ImageRequest(model="garbage", prompt="x"))


# --- structured output ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_generate_structured(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter(kind).generate_structured(
        StructuredRequest(
            model="model-j",
            prompt="Review this film",
            schema=REVIEW_SCHEMA,
            schema_name="review",
            system="You are a critic",
        )
    )

    assert result.data == REVIEW_EXAMPLE
    assert json.loads(result.raw_text) == REVIEW_EXAMPLE
    assert result.model == "model-j"
    assert result.usage.input_tokens == 7  # 3 prompt words + 4 system words
    assert result.latency_ms > 0

    body = body_of(only_request(fake_provider))
    if kind == "anthropic":
        assert body["tools"] == [
            {
                "name": "review",
                "description": "Record the answer as `review`, following the input schema.",
                "input_schema": REVIEW_SCHEMA,
            }
        ]
        assert body["tool_choice"] == {"type": "tool", "name": "review"}
        assert body["system"] == "You are a critic"
    else:
        assert body["response_format"] == {
            "type": "json_schema",
            "json_schema": {"name": "review", "schema": REVIEW_SCHEMA, "strict": False},
        }


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_is_parsed_not_validated(kind: str, make_adapter: MakeAdapter) -> None:
    result = make_adapter(kind).generate_structured(
        StructuredRequest(model="wrong-shape", prompt="x", schema=REVIEW_SCHEMA)
    )

    assert result.data == {"unexpected": True}


@pytest.mark.parametrize("kind", KINDS)
def test_structured_output_that_is_not_json(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError, match="returned unreadable JSON") as info:
        adapter.generate_structured(
            StructuredRequest(model="not-json", prompt="x", schema=REVIEW_SCHEMA)
        )

    assert info.value.provider == kind


def test_anthropic_wraps_non_object_schemas(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 3}
    result = make_adapter("anthropic").generate_structured(
        StructuredRequest(model="model-j", prompt="Three numbers", schema=schema)
    )

    assert result.data == [1, 1, 1]
    input_schema = body_of(only_request(fake_provider))["tools"][0]["input_schema"]  # type: ignore[index]
    assert input_schema == {
        "type": "object",
        "required": ["result"],
        "properties": {"result": schema},
    }


@pytest.mark.parametrize("kind", KINDS)
def test_schema_names_are_made_acceptable(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    make_adapter(kind).generate_structured(
        StructuredRequest(model="m", prompt="x", schema=REVIEW_SCHEMA, schema_name="film review!")
    )

    assert "film_review_" in json.dumps(body_of(only_request(fake_provider)))


# --- chat with tools ------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_chat_tool_call_round_trip(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind)
    history = (
        ChatMessage(role="system", content="You help with weather."),
        ChatMessage(role="user", content="What is the weather in Paris?"),
    )

    first = adapter.chat(ChatRequest(model="model-t", messages=history, tools=(WEATHER,)))

    assert first.stop_reason == "tool_calls"
    assert first.model == "model-t"
    assert first.message.role == "assistant"
    [call] = first.message.tool_calls
    assert call.name == "get_weather"
    assert call.arguments == {"city": "city 1", "unit": "c"}
    assert call.id

    history += (
        first.message,
        ChatMessage(role="tool", content="18C and sunny", tool_call_id=call.id),
    )
    follow = adapter.chat(ChatRequest(model="model-t", messages=history, tools=(WEATHER,)))

    assert follow.stop_reason == "end"
    assert follow.message.content == "Done: 18C and sunny"
    assert follow.message.tool_calls == ()
    assert follow.latency_ms > 0

    first_request, second_request = fake_provider.requests
    first_body, body = body_of(first_request), body_of(second_request)
    if kind == "anthropic":
        assert body["system"] == "You help with weather."
        assert body["tools"] == [
            {
                "name": "get_weather",
                "description": "Current weather for a city",
                "input_schema": WEATHER.parameters,
            }
        ]
        assert body["tool_choice"] == {"type": "auto"}
        assert body["messages"] == [
            {
                "role": "user",
                "content": [{"type": "text", "text": "What is the weather in Paris?"}],
            },
            {
                "role": "assistant",
                "content": [
                    {
                        "type": "tool_use",
                        "id": call.id,
                        "name": "get_weather",
                        "input": call.arguments,
                    }
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": call.id, "content": "18C and sunny"}
                ],
            },
        ]
    else:
        assert first_body["tools"] == [
            {
                "type": "function",
                "function": {
                    "name": "get_weather",
                    "description": "Current weather for a city",
                    "parameters": WEATHER.parameters,
                },
            }
        ]
        assert first_body["tool_choice"] == "auto"
        assert body["messages"] == [
            {"role": "system", "content": "You help with weather."},
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": "get_weather",
                            "arguments": json.dumps(call.arguments),
                        },
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call.id, "content": "18C and sunny"},
        ]


def test_anthropic_merges_consecutive_tool_results(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    calls = (
        ToolCall(id="toolu_a", name="get_weather", arguments={"city": "Paris"}),
        ToolCall(id="toolu_b", name="get_weather", arguments={"city": "Rome"}),
    )
    result = make_adapter("anthropic").chat(
        ChatRequest(
            model="model-t",
            messages=(
                ChatMessage(role="user", content="Paris and Rome?"),
                ChatMessage(role="assistant", content="Checking both.", tool_calls=calls),
                ChatMessage(role="tool", content="sunny", tool_call_id="toolu_a"),
                ChatMessage(role="tool", content="rainy", tool_call_id="toolu_b"),
            ),
            tools=(WEATHER,),
        )
    )

    assert result.message.content == "Done: rainy"
    messages = body_of(only_request(fake_provider))["messages"]
    assert messages[1] == {  # type: ignore[index]
        "role": "assistant",
        "content": [
            {"type": "text", "text": "Checking both."},
            {
                "type": "tool_use",
                "id": "toolu_a",
                "name": "get_weather",
                "input": {"city": "Paris"},
            },
            {"type": "tool_use", "id": "toolu_b", "name": "get_weather", "input": {"city": "Rome"}},
        ],
    }
    assert messages[2] == {  # type: ignore[index]
        "role": "user",
        "content": [
            {"type": "tool_result", "tool_use_id": "toolu_a", "content": "sunny"},
            {"type": "tool_result", "tool_use_id": "toolu_b", "content": "rainy"},
        ],
    }


@pytest.mark.parametrize(
    ("kind", "choice", "wire"),
    [
        ("openai", "none", "none"),
        ("openai", "required", "required"),
        ("openai_compatible", "none", "none"),
        ("anthropic", "none", {"type": "none"}),
        ("anthropic", "required", {"type": "any"}),
    ],
)
def test_chat_tool_choice(
    kind: str, choice: str, wire: object, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter(kind).chat(
        ChatRequest(
            model="model-t",
            messages=(ChatMessage(role="user", content="Hi there"),),
            tools=(WEATHER,),
            tool_choice=choice,
        )
    )

    assert body_of(only_request(fake_provider))["tool_choice"] == wire
    if choice == "none":
        assert result.stop_reason == "end"
        assert result.message.content == "Hello from model-t: Hi there"
    else:
        assert result.stop_reason == "tool_calls"


@pytest.mark.parametrize("kind", KINDS)
def test_chat_without_tools_and_with_token_cap(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter(kind).chat(
        ChatRequest(
            model="model-c",
            messages=(ChatMessage(role="user", content="tell me a long story"),),
            max_tokens=2,
        )
    )

    assert result.stop_reason == "max_tokens"
    assert result.message.content == "Hello from"
    assert result.usage.input_tokens == 5
    body = body_of(only_request(fake_provider))
    assert "tools" not in body
    assert "tool_choice" not in body


@pytest.mark.parametrize("kind", KINDS)
def test_chat_tool_arguments_that_are_not_an_object(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError, match=r"arguments|input"):
        adapter.chat(
            ChatRequest(
                model="bad-arguments",
                messages=(ChatMessage(role="user", content="Weather?"),),
                tools=(WEATHER,),
            )
        )


@pytest.mark.parametrize("kind", KINDS)
def test_chat_rejects_bad_messages_before_any_request(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(InvalidRequest, match="unsupported message role 'robot'"):
        adapter.chat(ChatRequest(model="m", messages=(ChatMessage(role="robot", content="x"),)))
    with pytest.raises(InvalidRequest, match="tool_call_id"):
        adapter.chat(ChatRequest(model="m", messages=(ChatMessage(role="tool", content="x"),)))
    with pytest.raises(InvalidRequest, match="tool_choice"):
        adapter.chat(
            ChatRequest(
                model="m",
                messages=(ChatMessage(role="user", content="x"),),
                tools=(WEATHER,),
                tool_choice="sometimes",
            )
        )
    assert fake_provider.requests == []


# --- failures -------------------------------------------------------------------------------

FAILURES = [
    ("fail-500", ProviderError, 500),
    ("fail-503", ProviderError, 503),
    ("fail-529", ProviderError, 529),
    ("fail-400", InvalidRequest, 400),
    ("fail-401", AuthenticationFailed, 401),
    ("missing-model-x", ModelNotFound, 404),
    ("garbage", ProviderError, None),
]


@pytest.mark.parametrize(("model", "error_class", "status"), FAILURES)
@pytest.mark.parametrize("kind", KINDS)
def test_http_failures_map_to_error_kinds(
    kind: str,
    model: str,
    error_class: type[AdapterError],
    status: int | None,
    make_adapter: MakeAdapter,
    fake_provider: FakeProvider,
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(error_class) as info:
        adapter.generate_text(TextRequest(model=model, prompt="hi"))

    error = info.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.provider == kind
    assert str(error) == error.message
    assert str(error).startswith(f"{kind}: ")
    if status is not None:
        assert f"(HTTP {status})" in str(error)
    if model.startswith("missing"):
        assert str(error) == f"{kind}: model 'missing-model-x' not found (HTTP 404)"
    if model == "garbage":
        assert "unreadable response" in str(error)
    only_request(fake_provider)  # max_retries=0: the SDK did not retry


@pytest.mark.parametrize("kind", KINDS)
def test_rate_limit_carries_retry_after(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(RateLimited) as info:
        adapter.generate_text(TextRequest(model="fail-429", prompt="hi"))

    assert info.value.retry_after == 1.0
    assert info.value.status_code == 429
    assert info.value.kind == "rate_limited"
    only_request(fake_provider)


@pytest.mark.parametrize("kind", KINDS)
def test_timeout_is_fast_and_not_retried(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind, timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TimedOut) as info:
        adapter.generate_text(TextRequest(model="slow-2", prompt="hi"))
    elapsed = time.monotonic() - started

    assert elapsed < 1.5, f"took {elapsed:.2f}s: the SDK must not retry on its own"
    assert str(info.value) == f"{kind}: no response within 0.5 s (timed out)"
    only_request(fake_provider)


@pytest.mark.parametrize("kind", KINDS)
def test_flaky_model_fails_once_then_works(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError) as info:
        adapter.generate_text(TextRequest(model="flaky-1", prompt="hi"))
    assert info.value.status_code == 503
    assert info.value.retry_after == 0.0

    assert adapter.generate_text(TextRequest(model="flaky-1", prompt="hi")).text
    assert len(fake_provider.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
def test_rejected_key_never_appears_in_errors(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind, api_key=BAD_KEY)
    calls: list[Callable[[], object]] = [
        lambda: adapter.generate_text(TextRequest(model="m", prompt="hi")),
        lambda: adapter.stream_text(TextRequest(model="m", prompt="hi")),
        lambda: adapter.list_models(),
        lambda: adapter.chat(
            ChatRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))
        ),
    ]
    for call in calls:
        with pytest.raises(AuthenticationFailed) as info:
            call()
        error = info.value
        assert error.status_code == 401
        # The fake echoes the whole key; only its last four characters may remain.
        assert "\u2026" + BAD_KEY[-4:] in error.message
        for text in (
            str(error),
            error.message,
            repr(error),
            "".join(traceback.format_exception(error)),
        ):
            assert BAD_KEY not in text
            assert "sk-bad" not in text


@pytest.mark.parametrize("kind", KINDS)
def test_unrelated_errors_keep_the_sdk_exception_as_cause(
    kind: str, make_adapter: MakeAdapter
) -> None:
    adapter = make_adapter(kind)
    with pytest.raises(ProviderError) as info:
        adapter.generate_text(TextRequest(model="fail-500", prompt="hi"))

    assert info.value.__cause__ is not None  # kept for debugging when it holds no secret


@pytest.mark.parametrize("kind", KINDS)
def test_connection_refused(kind: str, make_adapter: MakeAdapter) -> None:
    url = closed_port_url()
    adapter = make_adapter(kind, base_url=url if kind == "anthropic" else url + "/v1")
    with pytest.raises(ProviderError, match="cannot connect") as info:
        adapter.generate_text(TextRequest(model="m", prompt="hi"))

    assert info.value.status_code is None
    assert info.value.provider == kind


# --- keys and configuration ---------------------------------------------------------------


@pytest.mark.parametrize(("kind", "key_env"), [("openai", "OPENAI_API_KEY"), ("anthropic", None)])
@pytest.mark.parametrize("missing", [None, ""])
def test_missing_key_fails_before_any_request(
    kind: str,
    key_env: str | None,
    missing: str | None,
    make_adapter: MakeAdapter,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A key in the environment must not be picked up behind our back.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai-1234")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-anthropic-1234")
    adapter = make_adapter(kind, api_key=missing, key_env=key_env)
    calls: list[Callable[[], object]] = [
        lambda: adapter.generate_text(TextRequest(model="m", prompt="hi")),
        lambda: adapter.stream_text(TextRequest(model="m", prompt="hi")),
        lambda: adapter.generate_structured(
            StructuredRequest(model="m", prompt="hi", schema=REVIEW_SCHEMA)
        ),
        lambda: adapter.chat(
            ChatRequest(model="m", messages=(ChatMessage(role="user", content="hi"),))
        ),
        lambda: adapter.list_models(),
    ]
    if kind == "openai":
        calls.append(lambda: adapter.generate_image(ImageRequest(model="dall-e-3", prompt="x")))
    for call in calls:
        with pytest.raises(ProviderNotInitialized) as info:
            call()
        assert info.value.kind == "provider_not_initialized"
        assert info.value.key_env == key_env
    expected = f"Provider not initialized: {kind!r} has no API key."
    if key_env:
        expected += f" Set {key_env}."
    assert str(info.value) == expected
    assert fake_provider.requests == []


def test_build_adapter_passes_key_env_to_the_error() -> None:
    config = ClientConfig(
        kind="anthropic",
        provider_name="claude",
        base_url="",
        api_key=None,
        timeout_seconds=5.0,
    )
    adapter = build_adapter(config, key_env="ANTHROPIC_API_KEY")
    with pytest.raises(ProviderNotInitialized) as info:
        adapter.generate_text(TextRequest(model="m", prompt="hi"))

    assert str(info.value) == (
        "Provider not initialized: 'claude' has no API key. Set ANTHROPIC_API_KEY."
    )
    assert adapter.config.key_env == "ANTHROPIC_API_KEY"


@pytest.mark.parametrize("kind", KINDS)
def test_keys_are_sent_without_surrounding_whitespace(
    kind: str, make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    adapter = make_adapter(kind, api_key=f"  {BAD_KEY}\n")
    with pytest.raises(AuthenticationFailed) as info:
        adapter.list_models()

    assert sent_key(only_request(fake_provider)) == BAD_KEY
    assert BAD_KEY not in str(info.value)


def test_openai_compatible_needs_no_key(
    make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    result = make_adapter("openai_compatible", api_key=None).generate_text(
        TextRequest(model="llama3", prompt="hi")
    )

    assert result.text == "Hello from llama3: hi"
    assert sent_key(only_request(fake_provider)) == "not-needed"


def test_openai_compatible_without_base_url_is_not_initialized() -> None:
    adapter = build_adapter(
        ClientConfig(
            kind="openai_compatible",
            provider_name="local",
            base_url="  ",
            api_key=None,
            timeout_seconds=5.0,
        )
    )
    with pytest.raises(ProviderNotInitialized, match="'local' has no base URL"):
        adapter.list_models()


@pytest.mark.parametrize("kind", KINDS)
def test_unusable_base_url_is_not_initialized(kind: str, make_adapter: MakeAdapter) -> None:
    adapter = make_adapter(kind, base_url="localhost:11434/v1")
    with pytest.raises(ProviderNotInitialized, match="unusable base URL"):
        adapter.generate_text(TextRequest(model="m", prompt="hi"))


@pytest.mark.parametrize("kind", KINDS)
def test_sdk_environment_is_ignored(
    kind: str,
    make_adapter: MakeAdapter,
    fake_provider: FakeProvider,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: object,
) -> None:
    elsewhere = closed_port_url()
    for name, value in {
        "OPENAI_API_KEY": "sk-env-openai-1234",
        "OPENAI_BASE_URL": elsewhere + "/v1",
        "OPENAI_ORG_ID": "org-from-env",
        "OPENAI_PROJECT_ID": "proj-from-env",
        "OPENAI_CUSTOM_HEADERS": "X-Env-Leak: 1\nAuthorization: Bearer sk-env-custom-1234",
        "ANTHROPIC_API_KEY": "sk-env-anthropic-1234",
        "ANTHROPIC_AUTH_TOKEN": "sk-env-token-1234",
        "ANTHROPIC_BASE_URL": elsewhere,
        "ANTHROPIC_CUSTOM_HEADERS": "X-Env-Leak: 1\nx-api-key: sk-env-custom-1234",
        "ANTHROPIC_PROFILE": "from-env",
        "ANTHROPIC_CONFIG_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)

    adapter = make_adapter(kind)
    assert adapter.generate_text(TextRequest(model="m", prompt="hi")).text
    assert adapter.list_models()

    for request in fake_provider.requests:
        assert sent_key(request) == KEY
        assert "x-env-leak" not in request.headers
        assert "openai-organization" not in request.headers
        assert "openai-project" not in request.headers
        assert "sk-env" not in json.dumps(request.headers)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("openai", list(OPENAI_MODELS)),
        ("openai_compatible", list(OPENAI_MODELS)),
        ("anthropic", list(ANTHROPIC_MODELS)),
    ],
)
def test_list_models(
    kind: str, expected: list[str], make_adapter: MakeAdapter, fake_provider: FakeProvider
) -> None:
    assert make_adapter(kind).list_models() == expected

    request = only_request(fake_provider)
    assert (request.method, request.path) == ("GET", "/v1/models")


def test_adapter_classes_by_kind() -> None:
    def config(kind: str) -> ClientConfig:
        return ClientConfig(
            kind=kind, provider_name=kind, base_url="", api_key="sk-x-1234", timeout_seconds=1.0
        )

    assert type(build_adapter(config("openai"))) is OpenAIAdapter
    assert type(build_adapter(config("anthropic"))) is AnthropicAdapter
    assert type(build_adapter(config("openai_compatible"))) is OpenAICompatibleAdapter
    with pytest.raises(ValueError, match="Unknown provider kind 'gemini'"):
        build_adapter(config("gemini"))
    assert DEFAULT_BASE_URLS == {
        "openai": "https://api.openai.com/v1",
        "anthropic": "https://api.anthropic.com",
    }


def test_client_config_is_hashable_and_hides_its_key() -> None:
    first = ClientConfig("openai", "openai", "https://x", "sk-secret-abcd", 5.0)
    second = ClientConfig("openai", "openai", "https://x", "sk-secret-abcd", 5.0)

    assert first == second
    assert len({first, second}) == 1
    assert "sk-secret" not in repr(first)


# --- redaction and error objects ------------------------------------------------------------


def test_redact_replaces_secrets_with_their_last_four_characters() -> None:
    text = "key sk-abcdef123456 was used, sk-abcdef123456 again; other tok-9999zz"
    assert redact(text, ["sk-abcdef123456", "tok-9999zz"]) == (
        "key \u20263456 was used, \u20263456 again; other \u202699zz"
    )


def test_redact_ignores_empty_and_short_secrets() -> None:
    assert redact("abc and abcd", [None, "", "abc"]) == "abc and abcd"
    assert redact("nothing to hide", []) == "nothing to hide"


def test_redact_prefers_the_longest_secret() -> None:
    assert redact("sk-abcd-long-key", ["sk-abcd", "sk-abcd-long-key"]) == "\u2026-key"


def test_errors_pickle_with_their_attributes() -> None:
    error = RateLimited("openai: rate limited", provider="openai", status_code=429, retry_after=1.5)
    copy = pickle.loads(pickle.dumps(error))

    assert type(copy) is RateLimited
    assert (copy.message, copy.provider, copy.status_code, copy.retry_after) == (
        "openai: rate limited",
        "openai",
        429,
        1.5,
    )
    assert str(copy) == "openai: rate limited"

    missing = pickle.loads(pickle.dumps(ProviderNotInitialized(provider="x", key_env="X_KEY")))
    assert missing.key_env == "X_KEY"
    assert str(missing) == "Provider not initialized: 'x' has no API key. Set X_KEY."


def test_error_kinds_are_distinct() -> None:
    kinds = {
        cls.kind
        for cls in (
            ProviderNotInitialized,
            AuthenticationFailed,
            ModelNotFound,
            RateLimited,
            TimedOut,
            ProviderError,
            CapabilityNotSupported,
            InvalidRequest,
        )
    }
    assert kinds == {
        "provider_not_initialized",
        "authentication_failed",
        "model_not_found",
        "rate_limited",
        "timed_out",
        "provider_error",
        "capability_not_supported",
        "invalid_request",
    }


# --- the fake itself ----------------------------------------------------------------------


def test_example_from_schema() -> None:
    assert example_from_schema(REVIEW_SCHEMA) == REVIEW_EXAMPLE
    assert example_from_schema({"type": ["null", "number"], "minimum": 3}) == 3.0
    assert example_from_schema({"anyOf": [{"type": "null"}, {"type": "boolean"}]}) is True
    assert example_from_schema({"type": "array", "items": {"type": "string"}, "maxItems": 1}) == [
        "value 1"
    ]
