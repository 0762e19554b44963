"""Running a task: one path for every call, whoever makes it.

Each call reads the task's configuration at call time (one cheap query while it
is unchanged), tries the primary and then each fallback in order, and writes one
call-log row per attempt with latency, tokens and cost.

Rules, on purpose:
- every failed attempt moves on to the next fallback — 400s, auth errors, timeouts,
  unreadable bodies and answers that fail validation included;
- the SDKs' own retries are off; by default a failing attempt moves straight on, so a
  dead provider costs at most its timeout. A task's `max_retries` retries the same
  provider first, honouring `Retry-After` up to a cap;
- a stream falls back only before its first token; after that the error reaches the
  caller (with the attempt logged);
- when every attempt fails, `TaskFailed` lists each attempt's provider, model and reason.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, ClassVar

import jsonschema
from django.conf import settings
from django.db import DatabaseError, connections, router

from adapters import (
    Adapter,
    AdapterError,
    CapabilityNotSupported,
    ChatMessage,
    ChatRequest,
    ClientConfig,
    GeneratedImage,
    ImageRequest,
    ProviderError,
    ProviderNotInitialized,
    StructuredRequest,
    TextRequest,
    TextStream,
    ToolCall,
    ToolSpec,
    Usage,
    build_adapter,
    redact,
)
from aiconfig.endpoints import allow_private_endpoints, public_failure
from aiconfig.exceptions import AIConfigError, UnknownTask
from aiconfig.models import CallLog, CallOutcome, Channel, OutputKind
from aiconfig.pricing import call_cost
from aiconfig.selectors import config_snapshot
from aiconfig.services.history import User, known_user
from aiconfig.snapshots import ConfigSnapshot, ProviderInfo, RouteConfig, TaskConfig
from aiconfig.validation import check_provider, check_route

logger = logging.getLogger(__name__)


# Kinds worth retrying on the same provider (when the task allows retries).
RETRYABLE = frozenset({"rate_limited", "timed_out", "provider_error", "invalid_output"})

SLIDES_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "slides": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "properties": {
                    "image_prompt": {"type": "string", "minLength": 1},
                    "narration": {"type": "string", "minLength": 1},
                },
                "required": ["image_prompt", "narration"],
            },
        }
    },
    "required": ["slides"],
}
SLIDES_SYSTEM = (
    "You write short video slide decks. Return slides, each with an image_prompt "
    "(what the slide's picture shows) and narration (what the voice-over says)."
)


class NotConfigured(AdapterError):
    """The configuration rules this attempt out before any request (unknown provider, ...)."""

    kind: ClassVar[str] = "config_error"


class Cancelled(AdapterError):
    """The caller stopped reading a stream before it ended."""

    kind: ClassVar[str] = "cancelled"


class InvalidOutput(AdapterError):
    """The provider answered, but the answer failed validation (e.g. the slide schema)."""

    kind: ClassVar[str] = "invalid_output"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at one provider, as logged."""

    provider: str
    model: str
    attempt: int
    is_fallback: bool
    outcome: str
    error_kind: str = ""
    error: str = ""
    latency_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Slide:
    """One slide of the `video-slides` shape."""

    image_prompt: str
    narration: str


@dataclass(frozen=True, slots=True)
class TaskRun:
    """The answer to a task call plus who answered, how long it took and what it cost."""

    task: str
    output_kind: str
    operation: str
    request_id: uuid.UUID
    provider: str
    model: str
    response_model: str
    fallback_used: bool
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None
    image_count: int
    cost_usd: Decimal | None
    attempts: tuple[Attempt, ...]
    text: str | None = None
    images: tuple[GeneratedImage, ...] = ()
    slides: tuple[Slide, ...] = ()
    data: object = None
    message: ChatMessage | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    # Set when the call succeeded but its log rows could not be written.
    log_error: str | None = None


class TaskFailed(AIConfigError):
    """Every attempt failed; `attempts` says who was tried and why each failed."""

    def __init__(
        self,
        *,
        task: str,
        request_id: uuid.UUID,
        attempts: Sequence[Attempt],
        log_error: str | None = None,
        after_first_token: bool = False,
    ) -> None:
        self.task = task
        self.request_id = request_id
        self.attempts = tuple(attempts)
        self.log_error = log_error
        lines = [f"{a.provider}/{a.model}: {a.error}" for a in self.attempts]
        if after_first_token:
            head = f"Task '{task}': the stream failed after it had started"
        elif len(self.attempts) > 1:
            count = len(self.attempts)
            head = f"Fallback provider failed: task '{task}' — all {count} attempts failed"
        else:
            head = f"Task '{task}' failed"
        super().__init__(head + ":\n" + "\n".join(f"  {i}. {line}" for i, line in
                                                enumerate(lines, start=1)))  # fmt: skip


# --- adapters, cached by everything that defines a client -----------------------------

_ADAPTER_CACHE_SIZE = 64
_adapters: OrderedDict[ClientConfig, Adapter] = OrderedDict()
_adapters_lock = threading.Lock()


def get_adapter(*, provider: ProviderInfo, timeout_seconds: float) -> Adapter:
    """The adapter for a provider as configured now: a changed key or URL builds a new one."""
    config = ClientConfig(
        kind=provider.kind,
        provider_name=provider.name,
        base_url=provider.effective_base_url,
        api_key=provider.api_key(),
        timeout_seconds=timeout_seconds,
        key_env=provider.api_key_env or None,
        allow_private_endpoints=allow_private_endpoints(),
    )
    with _adapters_lock:
        adapter = _adapters.get(config)
        if adapter is not None:
            _adapters.move_to_end(config)
            return adapter
        adapter = build_adapter(config)
        _adapters[config] = adapter
        while len(_adapters) > _ADAPTER_CACHE_SIZE:
            _, old = _adapters.popitem(last=False)
            old.close()
    return adapter


def clear_adapter_cache() -> None:
    """Close and forget every cached adapter."""
    with _adapters_lock:
        for adapter in _adapters.values():
            adapter.close()
        _adapters.clear()


# --- the plan: what each step of a chain needs, worked out once per config version ----


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a task's chain with everything needed to try it."""

    position: int
    route: RouteConfig
    provider: ProviderInfo | None
    # A configuration error that rules this step out before any request.
    blocked: AdapterError | None


def _plan(snapshot: ConfigSnapshot, config: TaskConfig) -> tuple[Step, ...]:
    key = ("plan", config.task)
    steps = snapshot.memo.get(key)
    if steps is None:
        steps = tuple(
            _step(snapshot, config, position, route) for position, route in enumerate(config.chain)
        )
        snapshot.memo[key] = steps
    return steps  # type: ignore[return-value]


def _step(snapshot: ConfigSnapshot, config: TaskConfig, position: int, route: RouteConfig) -> Step:
    provider = snapshot.providers.get(route.provider)
    problems = check_route(
        task=config.task,
        output_kind=config.output_kind,
        route=route.route,
        position=position,
        providers=snapshot.providers,
        environ={},
    )
    if provider is not None:
        problems += check_provider(provider=provider, in_use_by=[config.task])
    name = provider.name if provider else route.provider
    for problem in problems:
        if problem.code == "provider_disabled":
            return Step(position, route, provider, NotConfigured(problem.text, provider=name))
        if not problem.is_error:
            continue
        error_class = CapabilityNotSupported if problem.code == "capability" else NotConfigured
        return Step(position, route, provider, error_class(problem.text, provider=name))
    return Step(position, route, provider, None)


# --- running ----------------------------------------------------------------------------


@dataclass
class _Call:
    """The bookkeeping of one call: attempts so far and the log rows to write."""

    task: TaskConfig
    operation: str
    source: str
    user: User
    prompt: str
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.perf_counter)
    attempts: list[Attempt] = field(default_factory=list)
    rows: list[CallLog] = field(default_factory=list)

    def record(
        self,
        step: Step,
        *,
        latency_ms: float,
        error: AdapterError | None = None,
        usage: Usage | None = None,
        cost: Decimal | None = None,
        response_model: str = "",
        response: str = "",
    ) -> Attempt:
        secrets = [step.provider.api_key()] if step.provider else []
        message = redact(str(error), secrets) if error else ""
        attempt = Attempt(
            provider=step.route.provider,
            model=step.route.model,
            attempt=len(self.attempts) + 1,
            is_fallback=step.position > 0,
            outcome=CallOutcome.ERROR if error else CallOutcome.SUCCESS,
            error_kind=error.kind if error else "",
            error=message,
            latency_ms=latency_ms,
        )
        self.attempts.append(attempt)
        keep_text = settings.AICONFIG_LOG_PROMPTS
        self.rows.append(
            CallLog(
                request_id=self.request_id,
                task=self.task.task,
                operation=self.operation,
                provider=attempt.provider,
                model=attempt.model,
                response_model=response_model[:200],
                attempt=attempt.attempt,
                is_fallback=attempt.is_fallback,
                outcome=attempt.outcome,
                error_kind=attempt.error_kind,
                error_message=message,
                latency_ms=round(latency_ms, 3),
                input_tokens=usage.input_tokens if usage else None,
                output_tokens=usage.output_tokens if usage else None,
                image_count=usage.image_count if usage else 0,
                cost_usd=cost,
                source=self.source if self.source in Channel.values else Channel.CODE,
                user=known_user(self.user),
                prompt=self.prompt if keep_text else "",
                response=response if keep_text else "",
            )
        )
        return attempt

    def failed(self, step: Step, *, error: AdapterError, started: float, retry: int) -> bool:
        """Log a failed attempt; True (after the back-off) when the same step is retried."""
        self.record(step, latency_ms=(time.perf_counter() - started) * 1000, error=error)
        if error.kind not in RETRYABLE or retry >= self.task.max_retries:
            return False
        time.sleep(_retry_delay(error, retry))
        return True

    def write_log(self) -> str | None:
        """Write the attempts' rows; a failure is reported (logged and returned), not raised."""
        try:
            insert_call_log(self.rows)
        except DatabaseError as exc:
            logger.error(
                "Could not write %d call-log row(s) for task %r (request %s): %s",
                len(self.rows),
                self.task.task,
                self.request_id,
                exc,
            )
            return f"call log not written: {exc}"
        return None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000


_LOG_FIELDS = tuple(f for f in CallLog._meta.concrete_fields if not f.primary_key)


def insert_call_log(rows: Sequence[CallLog]) -> None:
    """Insert call-log rows with one statement.

    This is on every call's path: `bulk_create` spends ~0.2 ms compiling SQL and
    opening a transaction for a single row, five times the insert itself. Values
    still go through each field's own database preparation, so types come out as
    the ORM would write them on any backend.
    """
    if not rows:
        return
    connection = connections[router.db_for_write(CallLog)]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(f.column) for f in _LOG_FIELDS)
    one_row = "(" + ", ".join(["%s"] * len(_LOG_FIELDS)) + ")"
    sql = (
        f"INSERT INTO {quote(CallLog._meta.db_table)} ({columns}) "
        f"VALUES {', '.join([one_row] * len(rows))}"
    )
    params = [
        field.get_db_prep_save(getattr(row, field.attname), connection)
        for row in rows
        for field in _LOG_FIELDS
    ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _ready_adapter(step: Step, timeout_seconds: float) -> Adapter:
    """The adapter for a step, or the reason the step cannot be tried (no request made)."""
    if step.blocked is not None:
        raise step.blocked
    provider = step.provider
    assert provider is not None
    if provider.key_required and provider.api_key() is None:
        raise ProviderNotInitialized(
            f"Provider not initialized: '{provider.name}' has no API key. "
            f"Set {provider.api_key_env or 'its API key variable'} and restart.",
            provider=provider.name,
            key_env=provider.api_key_env or None,
        )
    return get_adapter(provider=provider, timeout_seconds=timeout_seconds)


def _retry_delay(error: AdapterError, retry: int) -> float:
    cap = float(settings.AICONFIG_RETRY_AFTER_CAP_SECONDS)
    if error.retry_after is not None:
        return max(0.0, min(error.retry_after, cap))
    return min(0.5 * (2**retry), cap)


def _resolve(task: str) -> tuple[ConfigSnapshot, TaskConfig]:
    snapshot = config_snapshot()
    config = snapshot.tasks.get(task)
    if config is None:
        raise UnknownTask(task, sorted(snapshot.tasks))
    return snapshot, config


def _wrap_unexpected(exc: Exception, step: Step) -> AdapterError:
    # An adapter bug or an SDK surprise is still a failed attempt: fall back, and log it.
    logger.exception("Unexpected error calling %s/%s", step.route.provider, step.route.model)
    name = step.provider.name if step.provider else step.route.provider
    return ProviderError(f"{name}: unexpected error ({type(exc).__name__})", provider=name)


def _execute[R](
    *,
    snapshot: ConfigSnapshot,
    config: TaskConfig,
    operation: str,
    source: str,
    user: User,
    prompt: str,
    attempt_call: Callable[[Adapter, Step], R],
    usage_of: Callable[[R], Usage],
    response_text: Callable[[R], str],
    response_model_of: Callable[[R], str],
    validate: Callable[[R], None] | None = None,
    image_size: str | None = None,
    image_quality: str | None = None,
) -> tuple[R, TaskRun]:
    call = _Call(task=config, operation=operation, source=source, user=user, prompt=prompt)
    for step in _plan(snapshot, config):
        for retry in range(config.max_retries + 1):
            started = time.perf_counter()
            try:
                adapter = _ready_adapter(step, config.timeout_seconds)
                result = attempt_call(adapter, step)
                if validate is not None:
                    validate(result)
            except AdapterError as exc:
                error: AdapterError = exc
            except Exception as exc:
                error = _wrap_unexpected(exc, step)
            else:
                latency = (time.perf_counter() - started) * 1000
                usage = usage_of(result)
                assert step.provider is not None
                cost = call_cost(
                    provider=step.provider,
                    model=step.route.model,
                    usage=usage,
                    prices=snapshot.prices,
                    image_size=image_size,
                    image_quality=image_quality,
                )
                call.record(
                    step,
                    latency_ms=latency,
                    usage=usage,
                    cost=cost,
                    response_model=response_model_of(result),
                    response=response_text(result),
                )
                log_error = call.write_log()
                run = TaskRun(
                    task=config.task,
                    output_kind=config.output_kind,
                    operation=operation,
                    request_id=call.request_id,
                    provider=step.route.provider,
                    model=step.route.model,
                    response_model=response_model_of(result),
                    fallback_used=step.position > 0,
                    latency_ms=call.elapsed_ms(),
                    input_tokens=usage.input_tokens,
                    output_tokens=usage.output_tokens,
                    image_count=usage.image_count,
                    cost_usd=cost,
                    attempts=tuple(call.attempts),
                    log_error=log_error,
                )
                return result, run
            if not call.failed(step, error=error, started=started, retry=retry):
                break
    log_error = call.write_log()
    raise TaskFailed(
        task=config.task, request_id=call.request_id, attempts=call.attempts, log_error=log_error
    )


def _check_kind(config: TaskConfig, *allowed: str) -> None:
    if config.output_kind not in allowed:
        raise AIConfigError(
            f"Task '{config.task}' produces {OutputKind(config.output_kind).label.lower()}; "
            f"this call needs a task whose output is {' or '.join(allowed)}."
        )


# --- the public calls --------------------------------------------------------------------


def generate_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Generate text with the task's configured provider chain."""
    snapshot, config = _resolve(task)
    _check_kind(config, OutputKind.TEXT, OutputKind.TOOLS, OutputKind.STRUCTURED)
    result, run = _execute(
        snapshot=snapshot,
        config=config,
        operation="text",
        source=source,
        user=user,
        prompt=prompt,
        attempt_call=lambda adapter, step: adapter.generate_text(
            TextRequest(
                model=step.route.model,
                prompt=prompt,
                system=system,
                max_tokens=max_tokens,
                temperature=temperature,
            )
        ),
        usage_of=lambda r: r.usage,
        response_text=lambda r: r.text,
        response_model_of=lambda r: r.model,
    )
    return replace(run, text=result.text)


def generate_image(
    *,
    prompt: str,
    task: str = "image",
    size: str = "1024x1024",
    quality: str | None = None,
    n: int = 1,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Generate images (as bytes) with the task's configured provider chain."""
    snapshot, config = _resolve(task)
    _check_kind(config, OutputKind.IMAGE)

    def validate(result: Any) -> None:
        if not result.images:
            raise InvalidOutput("the provider returned no image", provider=result.model)

    result, run = _execute(
        snapshot=snapshot,
        config=config,
        operation="image",
        source=source,
        user=user,
        prompt=prompt,
        attempt_call=lambda adapter, step: adapter.generate_image(
            ImageRequest(model=step.route.model, prompt=prompt, size=size, quality=quality, n=n)
        ),
        usage_of=lambda r: r.usage,
        response_text=lambda r: f"{len(r.images)} image(s)",
        response_model_of=lambda r: r.model,
        validate=validate,
        image_size=size,
        image_quality=quality,
    )
    return replace(run, images=result.images)


def generate_structured(
    *,
    prompt: str,
    schema: Mapping[str, Any],
    task: str = "video-slides",
    schema_name: str = "result",
    system: str | None = None,
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Generate JSON that validates against `schema`; an answer that doesn't is a failure."""
    snapshot, config = _resolve(task)
    _check_kind(config, OutputKind.STRUCTURED, OutputKind.TOOLS)
    schema = dict(schema)
    validator = jsonschema.Draft202012Validator(schema)

    def validate(result: Any) -> None:
        error = jsonschema.exceptions.best_match(validator.iter_errors(result.data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "the top level"
            raise InvalidOutput(
                f"answer does not match the schema at {where}: {error.message[:200]}",
                provider=result.model,
            )

    result, run = _execute(
        snapshot=snapshot,
        config=config,
        operation="structured",
        source=source,
        user=user,
        prompt=prompt,
        attempt_call=lambda adapter, step: adapter.generate_structured(
            StructuredRequest(
                model=step.route.model,
                prompt=prompt,
                schema=schema,
                schema_name=schema_name,
                system=system,
                max_tokens=max_tokens,
            )
        ),
        usage_of=lambda r: r.usage,
        response_text=lambda r: r.raw_text,
        response_model_of=lambda r: r.model,
        validate=validate,
    )
    return replace(run, data=result.data)


def generate_slides(
    *,
    prompt: str,
    task: str = "video-slides",
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Slides for a video: each with an image prompt and narration text, validated."""
    run = generate_structured(
        prompt=prompt,
        schema=SLIDES_SCHEMA,
        task=task,
        schema_name="slides",
        system=SLIDES_SYSTEM,
        source=source,
        user=user,
    )
    data: Any = run.data
    slides = tuple(
        Slide(image_prompt=s["image_prompt"], narration=s["narration"]) for s in data["slides"]
    )
    return replace(run, slides=slides)


def _message(value: ChatMessage | Mapping[str, Any]) -> ChatMessage:
    if isinstance(value, ChatMessage):
        return value
    calls = tuple(
        c if isinstance(c, ToolCall) else ToolCall(c["id"], c["name"], dict(c["arguments"]))
        for c in value.get("tool_calls", ())
    )
    return ChatMessage(
        role=value["role"],
        content=value.get("content") or "",
        tool_calls=calls,
        tool_call_id=value.get("tool_call_id"),
    )


def _tool(value: ToolSpec | Mapping[str, Any]) -> ToolSpec:
    if isinstance(value, ToolSpec):
        return value
    return ToolSpec(
        name=value["name"],
        description=value.get("description", ""),
        parameters=dict(value.get("parameters") or {"type": "object", "properties": {}}),
    )


def chat(
    *,
    messages: Sequence[ChatMessage | Mapping[str, Any]],
    tools: Sequence[ToolSpec | Mapping[str, Any]] = (),
    task: str = "agent",
    tool_choice: str = "auto",
    max_tokens: int | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """One assistant turn with tools (the agent shape); tool calls are normalised.

    Falls back like every other call: the agent's fallback fires at run time.
    """
    snapshot, config = _resolve(task)
    _check_kind(config, OutputKind.TOOLS, OutputKind.TEXT)
    history = tuple(_message(m) for m in messages)
    specs = tuple(_tool(t) for t in tools)
    last_user = next((m.content for m in reversed(history) if m.role == "user"), "")
    result, run = _execute(
        snapshot=snapshot,
        config=config,
        operation="chat",
        source=source,
        user=user,
        prompt=last_user,
        attempt_call=lambda adapter, step: adapter.chat(
            ChatRequest(
                model=step.route.model,
                messages=history,
                tools=specs,
                max_tokens=max_tokens,
                tool_choice=tool_choice,
            )
        ),
        usage_of=lambda r: r.usage,
        response_text=lambda r: r.message.content,
        response_model_of=lambda r: r.model,
    )
    return replace(
        run, message=result.message, text=result.message.content,
        tool_calls=result.message.tool_calls,
    )  # fmt: skip


def run_task(
    *,
    task: str,
    prompt: str,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskRun:
    """Run a prompt through a task, whatever its output kind (the CLI's and playground's call)."""
    config = _resolve(task)[1]
    match config.output_kind:
        case OutputKind.IMAGE:
            return generate_image(task=task, prompt=prompt, source=source, user=user)
        case OutputKind.STRUCTURED if task == "video-slides":
            return generate_slides(task=task, prompt=prompt, source=source, user=user)
        case OutputKind.STRUCTURED:
            return generate_structured(
                task=task, prompt=prompt, schema={"type": "object"}, source=source, user=user
            )
        case OutputKind.TOOLS:
            return chat(
                task=task, messages=[{"role": "user", "content": prompt}], source=source, user=user
            )
        case _:
            return generate_text(task=task, prompt=prompt, source=source, user=user)


# --- streaming ---------------------------------------------------------------------------


class TaskStream:
    """Text deltas of a streamed call; `run` holds the `TaskRun` once the stream ends.

    The fallback chain is walked until a provider produces its first token; after
    that, an error is raised to the reader as `TaskFailed` (the attempt is logged).
    Close it (or use it as a context manager) when you stop reading early.
    """

    def __init__(self, generator: Iterator[str]) -> None:
        self._generator = generator
        self.run: TaskRun | None = None

    def __iter__(self) -> TaskStream:
        return self

    def __next__(self) -> str:
        return next(self._generator)

    def close(self) -> None:
        """Stop reading; the attempt is logged as cancelled."""
        close = getattr(self._generator, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> TaskStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def text(self) -> str:
        """The full text, once the stream has ended."""
        return (self.run.text or "") if self.run else ""


def stream_text(
    *,
    prompt: str,
    task: str = "text",
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    source: str = Channel.CODE,
    user: User = None,
) -> TaskStream:
    """Stream text from the task's chain: fallbacks only before the first token."""
    snapshot, config = _resolve(task)
    _check_kind(config, OutputKind.TEXT, OutputKind.TOOLS, OutputKind.STRUCTURED)
    holder: list[TaskStream] = []

    def generate() -> Iterator[str]:
        call = _Call(task=config, operation="stream", source=source, user=user, prompt=prompt)
        for step in _plan(snapshot, config):
            for retry in range(config.max_retries + 1):
                started = time.perf_counter()
                stream: TextStream | None = None
                try:
                    adapter = _ready_adapter(step, config.timeout_seconds)
                    stream = adapter.stream_text(
                        TextRequest(
                            model=step.route.model,
                            prompt=prompt,
                            system=system,
                            max_tokens=max_tokens,
                            temperature=temperature,
                        )
                    )
                    first = next(stream, None)
                except AdapterError as exc:
                    error: AdapterError = exc
                except Exception as exc:
                    error = _wrap_unexpected(exc, step)
                else:
                    assert stream is not None
                    yield from _finish_stream(call, step, stream, first, started, snapshot, holder)
                    return
                if stream is not None:
                    stream.close()
                if not call.failed(step, error=error, started=started, retry=retry):
                    break
        log_error = call.write_log()
        raise TaskFailed(
            task=config.task,
            request_id=call.request_id,
            attempts=call.attempts,
            log_error=log_error,
        )

    task_stream = TaskStream(generate())
    holder.append(task_stream)
    return task_stream


def _finish_stream(
    call: _Call,
    step: Step,
    stream: TextStream,
    first: str | None,
    started: float,
    snapshot: ConfigSnapshot,
    holder: list[TaskStream],
) -> Iterator[str]:
    """Yield the rest of a stream that has started; log its end, whatever it is."""
    parts: list[str] = []
    try:
        if first is not None:
            parts.append(first)
            yield first
        for delta in stream:
            parts.append(delta)
            yield delta
    except AdapterError as exc:
        call.record(step, latency_ms=(time.perf_counter() - started) * 1000, error=exc)
        log_error = call.write_log()
        raise TaskFailed(
            task=call.task.task,
            request_id=call.request_id,
            attempts=call.attempts,
            log_error=log_error,
            after_first_token=True,
        ) from exc
    except GeneratorExit:
        stream.close()
        cancelled = Cancelled("the caller stopped reading the stream", provider=step.route.provider)
        call.record(step, latency_ms=(time.perf_counter() - started) * 1000, error=cancelled)
        call.write_log()
        raise
    result = stream.result
    usage = result.usage if result else Usage()
    assert step.provider is not None
    cost = call_cost(
        provider=step.provider, model=step.route.model, usage=usage, prices=snapshot.prices
    )
    text = "".join(parts)
    response_model = result.model if result else step.route.model
    call.record(
        step,
        latency_ms=(time.perf_counter() - started) * 1000,
        usage=usage,
        cost=cost,
        response_model=response_model,
        response=text,
    )
    log_error = call.write_log()
    holder[0].run = TaskRun(
        task=call.task.task,
        output_kind=call.task.output_kind,
        operation="stream",
        request_id=call.request_id,
        provider=step.route.provider,
        model=step.route.model,
        response_model=response_model,
        fallback_used=step.position > 0,
        latency_ms=call.elapsed_ms(),
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        image_count=0,
        cost_usd=cost,
        attempts=tuple(call.attempts),
        text=text,
        log_error=log_error,
    )


# --- test connection ---------------------------------------------------------------------


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
        adapter = _ready_adapter(step, timeout_seconds)
        models = tuple(adapter.list_models())
    except Exception as exc:
        # Status and plain words, never the body of whatever answered (see public_failure).
        latency = (time.perf_counter() - started) * 1000
        error = exc if isinstance(exc, AdapterError) else _wrap_unexpected(exc, step)  # logs it
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
