"""Database models: providers, their models, task types, assignments, history, call log, prices.

Models hold data only. Every write goes through `aiconfig.services`, which validates,
records the change in `ConfigChange` and so makes it visible to every process. One
module per job (configuration, history, call log, usage rollup, playground, API
tokens); the names are re-exported here so `from aiconfig.models import X` works.
Nothing here imports rules or queries: only `aiconfig.enums` and Django.
"""

from __future__ import annotations

from aiconfig.enums import CallOutcome, Channel, OutputKind, ProviderKind, Source
from aiconfig.models.alerts import AlertRule, Budget, SentAlert
from aiconfig.models.calls import CallLog
from aiconfig.models.config import (
    ModelPrice,
    Provider,
    ProviderModel,
    TaskAssignment,
    TaskFallback,
    TaskType,
)
from aiconfig.models.history import ConfigChange
from aiconfig.models.playground import PlaygroundImage, PlaygroundRun
from aiconfig.models.tokens import ApiToken
from aiconfig.models.usage import LATENCY_BUCKETS, LATENCY_STEPS_PER_DOUBLING, UsageRollup
from aiconfig.models.usage_daily import (
    UsageDaily,
    UsageDailyByModel,
    UsageDailyCaller,
    UsageDailyDone,
    UsageDailyRoute,
)

__all__ = [
    "LATENCY_BUCKETS",
    "LATENCY_STEPS_PER_DOUBLING",
    "AlertRule",
    "ApiToken",
    "Budget",
    "CallLog",
    "CallOutcome",
    "Channel",
    "ConfigChange",
    "ModelPrice",
    "OutputKind",
    "PlaygroundImage",
    "PlaygroundRun",
    "Provider",
    "ProviderKind",
    "ProviderModel",
    "SentAlert",
    "Source",
    "TaskAssignment",
    "TaskFallback",
    "TaskType",
    "UsageDaily",
    "UsageDailyByModel",
    "UsageDailyCaller",
    "UsageDailyDone",
    "UsageDailyRoute",
    "UsageRollup",
]
