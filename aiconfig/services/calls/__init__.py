"""Running a task: one attempt loop for every call, whoever makes it and however.

Each call reads the task's configuration at call time (one cheap query while it
is unchanged), tries the primary and then each fallback in order, and writes one
call-log row per attempt with latency, tokens and cost. The modules:

- `plan`: which routes, in what order, each ready to try (adapter cache included);
- `loop`: the attempt loop (deadline, classify, retry or fall back) and its blocking
  drivers, whole answers and streams; `aloop`: the same on the async SDK clients;
- `log`: the call-log rows, written outside the caller's transaction;
  `log_insert` inserts them with their usage rollup in one transaction, through the
  per-thread connections of `log_connections`;
- `operations`/`api`/`streams`/`fanout`: the public calls built on the loop;
- `connection`: a provider's "Test connection".
"""

from __future__ import annotations

from adapters import CancelToken
from aiconfig.services.calls.api import (
    achat,
    agenerate_image,
    agenerate_slides,
    agenerate_structured,
    agenerate_text,
    arun_task,
    chat,
    generate_image,
    generate_slides,
    generate_structured,
    generate_text,
    run_task,
)
from aiconfig.services.calls.connection import ConnectionCheck, test_provider_connection
from aiconfig.services.calls.fanout import (
    RouteEvent,
    afan_out,
    afan_out_stream,
    fan_out,
    fan_out_stream,
)
from aiconfig.services.calls.log import (
    LogHealth,
    call_log_health,
    call_log_problem,
    insert_call_log,
    wait_for_call_log,
)
from aiconfig.services.calls.loop import RETRYABLE
from aiconfig.services.calls.operations import SLIDES_SCHEMA, SLIDES_SYSTEM
from aiconfig.services.calls.plan import Step, clear_adapter_cache, get_adapter
from aiconfig.services.calls.results import (
    Attempt,
    Cancelled,
    InvalidOutput,
    NotConfigured,
    OutOfTime,
    Slide,
    TaskFailed,
    TaskRun,
)
from aiconfig.services.calls.streams import (
    AsyncTaskStream,
    TaskStream,
    astream_text,
    stream_text,
)

__all__ = [
    "RETRYABLE",
    "SLIDES_SCHEMA",
    "SLIDES_SYSTEM",
    "AsyncTaskStream",
    "Attempt",
    "CancelToken",
    "Cancelled",
    "ConnectionCheck",
    "InvalidOutput",
    "LogHealth",
    "NotConfigured",
    "OutOfTime",
    "RouteEvent",
    "Slide",
    "Step",
    "TaskFailed",
    "TaskRun",
    "TaskStream",
    "achat",
    "afan_out",
    "afan_out_stream",
    "agenerate_image",
    "agenerate_slides",
    "agenerate_structured",
    "agenerate_text",
    "arun_task",
    "astream_text",
    "call_log_health",
    "call_log_problem",
    "chat",
    "clear_adapter_cache",
    "fan_out",
    "fan_out_stream",
    "generate_image",
    "generate_slides",
    "generate_structured",
    "generate_text",
    "get_adapter",
    "insert_call_log",
    "run_task",
    "stream_text",
    "test_provider_connection",
    "wait_for_call_log",
]
