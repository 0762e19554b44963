"""View models for the call explorer: the list of calls and one call's page."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from adapters import Usage
from aiconfig.enums import CallOutcome, Channel
from aiconfig.exports import csv_row
from aiconfig.models import CallLog
from aiconfig.price_sources import CostExplanation, explain_cost
from aiconfig.selectors.calls import EXPORT_FIELDS, CallSummary
from aiconfig.snapshots import ConfigSnapshot

# What each error kind means for the person reading the log.
ERROR_WORDS: dict[str, str] = {
    "authentication_failed": "The provider refused the API key.",
    "model_not_found": "The provider does not know this model.",
    "rate_limited": "The provider's rate limit was hit.",
    "timed_out": "No answer within the timeout.",
    "provider_error": "The provider failed (a 5xx answer or a broken response).",
    "capability_not_supported": "The model cannot do what the task needs.",
    "invalid_request": "The provider rejected the request as invalid.",
    "provider_not_initialized": "The provider is not set up (a missing key or base URL).",
    "cancelled": "Cancelled by the caller before an answer came.",
    "budget_exceeded": "Stopped by a budget before any request was made.",
    "adapter_error": "The call failed in the adapter.",
}

# Outcome -> the pill's colour class (components.css).
OUTCOME_PILLS: dict[str, str] = {
    CallOutcome.SUCCESS: "pill-ok",
    CallOutcome.ERROR: "pill-error",
    CallOutcome.TIMED_OUT: "pill-error",
    CallOutcome.CANCELLED: "pill-warning",
}


# The CSV export's columns (the page's download and `ai_calls --csv`).
EXPORT_COLUMNS = [*EXPORT_FIELDS, "user"]


def export_cells(record: dict[str, Any]) -> list[Any]:
    """One exported attempt as formula-safe CSV cells, in `EXPORT_COLUMNS` order."""
    safe = csv_row({**record, "user": record.get("user__username") or ""})
    return [safe[column] for column in EXPORT_COLUMNS]


def _outcome_label(outcome: str) -> str:
    return CallOutcome(outcome).label if outcome in CallOutcome.values else outcome


def _source_label(source: str) -> str:
    return Channel(source).label if source in Channel.values else source


@dataclass(frozen=True, slots=True)
class CallLine:
    """One call in the list."""

    url: str
    when: datetime
    task: str
    route: str
    attempts: int
    fallback: bool
    outcome: str
    outcome_pill: str
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: Decimal | None
    source: str
    user: str


def call_lines(calls: list[CallSummary]) -> list[CallLine]:
    """The list's lines, newest first as given."""
    return [
        CallLine(
            url=reverse("call_detail", args=[call.request_id]),
            when=call.when,
            task=call.task,
            route=f"{call.provider}/{call.model}",
            attempts=call.attempts,
            fallback=call.fallback,
            outcome=_outcome_label(call.outcome),
            outcome_pill=OUTCOME_PILLS.get(call.outcome, "pill-warning"),
            latency_ms=call.latency_ms,
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
            cost_usd=call.cost_usd,
            source=_source_label(call.source),
            user=call.user,
        )
        for call in calls
    ]


@dataclass(frozen=True, slots=True)
class AttemptView:
    """One attempt of a call, with its cost explained."""

    number: int
    when: datetime
    route: str
    response_model: str
    fallback: bool
    outcome: str
    outcome_pill: str
    error_kind: str
    error_words: str
    error_message: str
    latency_ms: float
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None
    reasoning_tokens: int | None
    image_count: int
    cost_usd: Decimal | None
    cost: CostExplanation


@dataclass(frozen=True, slots=True)
class CallView:
    """A call's page: what it was, each attempt, and its text when stored."""

    request_id: uuid.UUID
    task: str
    operation: str
    source: str
    user: str
    api_token: str
    outcome: str
    outcome_pill: str
    latency_ms: float
    cost_usd: Decimal | None
    attempts: list[AttemptView]
    prompt: str
    response: str
    playground_url: str


def _attempt(row: CallLog, snapshot: ConfigSnapshot) -> AttemptView:
    usage = Usage(
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        image_count=row.image_count,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        reasoning_tokens=row.reasoning_tokens,
    )
    explanation = explain_cost(
        provider=snapshot.providers.get(row.provider),
        model=row.model,
        usage=usage,
        prices=snapshot.prices,
        logged=row.cost_usd,
        succeeded=row.outcome == CallOutcome.SUCCESS,
    )
    return AttemptView(
        number=row.attempt,
        when=row.created_at,
        route=f"{row.provider}/{row.model}",
        response_model=row.response_model if row.response_model != row.model else "",
        fallback=row.is_fallback,
        outcome=_outcome_label(row.outcome),
        outcome_pill=OUTCOME_PILLS.get(row.outcome, "pill-warning"),
        error_kind=row.error_kind,
        error_words=ERROR_WORDS.get(row.error_kind, "") if row.error_kind else "",
        error_message=row.error_message,
        latency_ms=row.latency_ms,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cache_write_tokens=row.cache_write_tokens,
        reasoning_tokens=row.reasoning_tokens,
        image_count=row.image_count,
        cost_usd=row.cost_usd,
        cost=explanation,
    )


def call_view(rows: list[CallLog], snapshot: ConfigSnapshot) -> CallView:
    """One call's page from its attempts (in order; at least one)."""
    last = rows[-1]
    answered = next((r for r in rows if r.outcome == CallOutcome.SUCCESS), last)
    stored_prompt = next((r.prompt for r in rows if r.prompt), "")
    playground = ""
    if stored_prompt:
        route = f"{answered.provider}/{answered.model}"
        query = urlencode({"model": route, "prompt": stored_prompt})
        playground = f"{reverse('playground')}?{query}"
    unpriced = answered.outcome == CallOutcome.SUCCESS and answered.cost_usd is None
    costs = [r.cost_usd for r in rows if r.cost_usd is not None]
    return CallView(
        request_id=last.request_id,
        task=last.task,
        operation=last.operation,
        source=_source_label(last.source),
        user=last.user.get_username() if last.user else "",
        api_token=last.api_token,
        outcome=_outcome_label(last.outcome),
        outcome_pill=OUTCOME_PILLS.get(last.outcome, "pill-warning"),
        latency_ms=sum(r.latency_ms for r in rows),
        cost_usd=None if unpriced or not costs else sum(costs, Decimal(0)),
        attempts=[_attempt(row, snapshot) for row in rows],
        prompt=stored_prompt,
        response=answered.response,
        playground_url=playground,
    )
