"""One call-log row as the call path builds it: its columns' values, nothing more.

Every attempt of every call makes one, so it is a plain slotted dataclass rather than
a `CallLog` model instance: Django's model constructor walks all 25 fields and their
defaults, which cost about as much as inserting the row. The fields are `CallLog`'s
concrete columns by attribute name (the foreign key as `user_id`), so the insert and
the rollup read it exactly as they would read a model instance; `tests/test_log_row.py`
keeps the two in step.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.utils import timezone

from aiconfig.enums import Channel
from aiconfig.models import CallLog


@dataclass(slots=True, kw_only=True)
class LogRow:
    """The values of one `CallLog` row (one attempt), ready to insert."""

    request_id: uuid.UUID
    task: str
    operation: str
    provider: str
    model: str
    attempt: int
    outcome: str
    latency_ms: float
    created_at: datetime = field(default_factory=timezone.now)
    response_model: str = ""
    is_fallback: bool = False
    error_kind: str = ""
    error_message: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    image_count: int = 0
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    cost_usd: Decimal | None = None
    source: str = Channel.CODE
    user_id: int | None = None
    prompt: str = ""
    response: str = ""
    api_token: str = ""


# What the insert and the rollup accept: a row built here, or a model instance (rows
# read back from the log, imports, tests).
type RowValues = LogRow | CallLog
