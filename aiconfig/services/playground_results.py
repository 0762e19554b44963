"""A playground column's outcome as saved: the answer, the numbers, and its raw exchange.

Everything here ends up in a page, an export and the run's JSON, so it is built to be
safe to show: failures in the words `public_error` allows, and the raw request and
response with every API key removed (by name, and by value wherever a provider's key
would otherwise appear).
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiconfig.endpoints import public_error
from aiconfig.pricing import format_usd
from aiconfig.services.calls.loop import Walk
from aiconfig.services.calls.results import Attempt, TaskFailed, TaskRun
from aiconfig.services.playground_inputs import Column
from aiconfig.snapshots import ConfigSnapshot

# Field names whose values are credentials, wherever they turn up in a raw exchange.
SECRET_NAMES = frozenset(
    {"api_key", "apikey", "authorization", "x-api-key", "api-key", "key", "secret", "password"}
)
REMOVED = "[removed]"
# Keys shorter than this are not searched for by value (they would match ordinary text).
_MIN_SECRET_LENGTH = 8


@dataclass
class Lane:
    """One column while it runs."""

    index: int
    column: Column
    walk: Walk | None
    setup_error: str = ""
    # A task whose output is not plain text (slides, JSON, chat) answers whole, not streamed.
    whole: bool = False
    slides: bool = False
    started: float = field(default_factory=time.perf_counter)
    first_token_ms: float | None = None
    parts: list[str] = field(default_factory=list)
    ended: bool = False


def _secrets(snapshot: ConfigSnapshot) -> list[str]:
    """Every provider's key as set in the environment now (to be removed by value)."""
    keys = {provider.api_key() or "" for provider in snapshot.providers.values()}
    return sorted((k for k in keys if len(k) >= _MIN_SECRET_LENGTH), key=len, reverse=True)


def without_keys(value: Any, secrets: Sequence[str]) -> Any:
    """`value` (JSON-like) with credential fields dropped and any key's text replaced."""
    if isinstance(value, Mapping):
        return {
            str(k): without_keys(v, secrets)
            for k, v in value.items()
            if str(k).lower() not in SECRET_NAMES
        }
    if isinstance(value, list | tuple):
        return [without_keys(v, secrets) for v in value]
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REMOVED)
        return value
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return value


def _endpoint(base_url: str) -> str:
    """Where the request went: scheme, host and path only (no user info, no query)."""
    parts = urlsplit(base_url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def _raw_request(walk: Walk) -> dict[str, Any] | None:
    """The request as handed to the adapter of the last route tried (None: none was)."""
    step = walk.current
    if step is None:
        return None
    provider = walk.snapshot.providers.get(step.route.provider)
    body = dataclasses.asdict(walk.op.request_for(step))
    return {
        "provider": step.route.provider,
        "kind": provider.kind if provider else "",
        "endpoint": _endpoint(provider.base_url) if provider else "",
        "operation": walk.op.method,
        "body": body,
    }


def _raw_response(end: TaskRun | TaskFailed | str) -> dict[str, Any]:
    """What came back, as the adapter returned it (image bytes summarised, never inlined)."""
    if isinstance(end, str):
        return {"error": end}
    if isinstance(end, TaskFailed):
        return {"error": "no answer", "attempts": _attempts(end.attempts)}
    response: dict[str, Any] = {
        "model": end.response_model,
        "usage": {"input_tokens": end.input_tokens, "output_tokens": end.output_tokens},
    }
    if end.text is not None:
        response["text"] = end.text
    if end.data is not None:
        response["data"] = end.data
    if end.tool_calls:
        response["tool_calls"] = [dataclasses.asdict(call) for call in end.tool_calls]
    if end.images:
        response["images"] = [
            {"mime_type": i.mime_type, "bytes": len(i.data), "revised_prompt": i.revised_prompt}
            for i in end.images
        ]
    return response


def raw_exchange(lane: Lane, end: TaskRun | TaskFailed | str) -> dict[str, Any]:
    """The column's request and response, pretty enough to read, with every key removed."""
    if lane.walk is None:
        return without_keys({"request": None, "response": _raw_response(end)}, ())
    secrets = _secrets(lane.walk.snapshot)
    raw = {"request": _raw_request(lane.walk), "response": _raw_response(end)}
    return without_keys(raw, secrets)


def _attempts(attempts: Sequence[Attempt]) -> list[dict[str, Any]]:
    """Attempts in words safe to show: never text from the body of whatever answered."""
    rows = []
    for a in attempts:
        kind, words = (
            public_error(kind=a.error_kind, message=a.error) if a.error else (a.error_kind, "")
        )
        rows.append(
            {
                "route": f"{a.provider}/{a.model}",
                "is_fallback": a.is_fallback,
                "ok": a.outcome == "success",
                "outcome": a.outcome,
                "error_kind": kind,
                "error": words,
                "latency_ms": round(a.latency_ms, 1),
            }
        )
    return rows


def column_result(lane: Lane, end: TaskRun | TaskFailed | str) -> dict[str, Any]:
    """The column as saved: its settings, what came back, the numbers, the raw exchange."""
    base: dict[str, Any] = {
        **lane.column.as_dict(),
        "text": "".join(lane.parts),
        "first_token_ms": round(lane.first_token_ms, 1) if lane.first_token_ms else None,
        "streamed": not lane.whole,
        "latency_ms": round((time.perf_counter() - lane.started) * 1000, 1),
        "input_tokens": None,
        "output_tokens": None,
        "cost_usd": None,
        "answered_by": "",
        "fallback_used": False,
        "attempts": [],
        "error": "",
        "request_id": "",
        "structured": False,
        "images": [],
        "raw": raw_exchange(lane, end),
    }
    if isinstance(end, str):
        return {**base, "status": "failed", "error": end}
    if isinstance(end, TaskFailed):
        attempts = _attempts(end.attempts)
        failed = [a for a in attempts if not a["ok"]]
        if end.cancelled:
            status, error = "stopped", "Stopped before it finished."
        else:
            status = "failed"
            last = failed[-1] if failed else None
            error = f"{last['route']}: {last['error'] or last['error_kind']}" if last else ""
            if len(attempts) > 1:
                # Each attempt is listed under the error; this says how it ended.
                error = f"All {len(attempts)} attempts failed; the last one: {error}"
            if end.after_first_token:
                error = f"The stream broke after it had started. {error}"
        return {
            **base,
            "status": status,
            "error": error or "Failed.",
            "attempts": attempts,
            "request_id": str(end.request_id),
        }
    return {
        **base,
        "status": "answered",
        "text": answer_text(end) or base["text"],
        "latency_ms": round(end.latency_ms, 1),
        "input_tokens": end.input_tokens,
        "output_tokens": end.output_tokens,
        "cost_usd": format_usd(end.cost_usd),
        "answered_by": f"{end.provider}/{end.model}",
        "fallback_used": end.fallback_used,
        "attempts": _attempts(end.attempts),
        "request_id": str(end.request_id),
        # Only an answer that passed the schema gets here: a failing one is a failure.
        "structured": end.data is not None,
        "images": [
            {
                "position": n,
                "mime_type": image.mime_type,
                "bytes": len(image.data),
                "revised_prompt": image.revised_prompt or "",
            }
            for n, image in enumerate(end.images)
        ],
    }


def answer_text(task_run: TaskRun) -> str:
    """The answer as the column shows it: text, pretty JSON, tool calls as returned."""
    if task_run.slides:
        slides = [{"image_prompt": s.image_prompt, "narration": s.narration}
                  for s in task_run.slides]  # fmt: skip
        return json.dumps({"slides": slides}, indent=2, ensure_ascii=False)
    if task_run.data is not None:
        return json.dumps(task_run.data, indent=2, ensure_ascii=False)
    if task_run.images:
        return f"{len(task_run.images)} image(s) generated."
    lines = [task_run.text] if task_run.text else []
    for call in task_run.tool_calls:
        lines.append(f"Tool call: {call.name}({json.dumps(call.arguments, ensure_ascii=False)})")
    return "\n".join(lines)
