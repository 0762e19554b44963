"""Reads: the effective configuration, cheaply, in every process.

`config_snapshot()` costs one indexed query while nothing has changed: it compares
the newest `ConfigChange` id with the version it cached and reloads only when they
differ. That is how an edit made in one process reaches every other process on
its next call, without a restart and without a shared cache server.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from aiconfig.exceptions import UnknownTask
from aiconfig.latency import BUCKET_COLUMNS, histogram_percentile, hour_of, latency_bucket
from aiconfig.models import (
    ApiToken,
    CallLog,
    CallOutcome,
    ConfigChange,
    ModelPrice,
    PlaygroundRun,
    Provider,
    TaskAssignment,
    TaskType,
    UsageRollup,
)
from aiconfig.snapshots import (
    ConfigSnapshot,
    ModelInfo,
    PriceOverride,
    ProviderInfo,
    RouteConfig,
    TaskConfig,
)

# The provider columns a ProviderInfo is built from (services.config reuses them).
PROVIDER_ROW_FIELDS = (
    "label",
    "kind",
    "base_url",
    "base_url_source",
    "api_key_env",
    "key_required",
    "enabled",
    "builtin",
    "self_hosted",
    "pricing_id",
    "default_text_model",
    "default_image_model",
)

_cache_lock = threading.Lock()
_cached: dict[str, ConfigSnapshot] = {}

# Attempts that count as failures (a cancel is the caller's choice, not a failure).
FAILED_OUTCOMES = (CallOutcome.ERROR, CallOutcome.TIMED_OUT)


def config_version() -> int:
    """The id of the newest configuration change (0 before any)."""
    table = connection.ops.quote_name(ConfigChange._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {table}")
        row = cursor.fetchone()
    return int(row[0] or 0) if row else 0


def _load_providers() -> dict[str, ProviderInfo]:
    providers: dict[str, ProviderInfo] = {}
    for row in Provider.objects.prefetch_related("models"):
        models = {
            m.name: ModelInfo(
                name=m.name,
                text=m.supports_text,
                image=m.supports_image,
                structured=m.supports_structured,
                tools=m.supports_tools,
                notes=m.notes,
                builtin=m.builtin,
            )
            for m in row.models.all()
        }
        providers[row.name] = ProviderInfo.build(
            name=row.name,
            fields={f: getattr(row, f) for f in PROVIDER_ROW_FIELDS},
            models=models,
        )
    return providers


def _load_tasks() -> dict[str, TaskConfig]:
    tasks: dict[str, TaskConfig] = {}
    assignments = {a.task_id: a for a in TaskAssignment.objects.prefetch_related("fallbacks")}
    for task in TaskType.objects.order_by("name"):
        assignment = assignments.get(task.pk)
        if assignment is None:
            continue
        tasks[task.name] = TaskConfig(
            task=task.name,
            output_kind=task.output_kind,
            description=task.description,
            builtin=task.builtin,
            primary=RouteConfig(
                provider=assignment.provider,
                model=assignment.model,
                source=assignment.source,
                model_defaulted=assignment.model_defaulted,
            ),
            fallbacks=tuple(
                RouteConfig(
                    provider=f.provider,
                    model=f.model,
                    source=f.source,
                    model_defaulted=f.model_defaulted,
                )
                for f in sorted(assignment.fallbacks.all(), key=lambda f: f.position)
            ),
            timeout_seconds=assignment.timeout_seconds,
            max_retries=assignment.max_retries,
            total_timeout_seconds=assignment.total_timeout_seconds,
            updated_at=assignment.updated_at,
        )
    return tasks


def _load_prices() -> dict[tuple[str, str, str, str], PriceOverride]:
    return {
        (p.provider, p.model, p.image_size, p.image_quality): PriceOverride(
            input_per_million=p.input_per_million,
            output_per_million=p.output_per_million,
            per_image=p.per_image,
            cached_input_per_million=p.cached_input_per_million,
            cache_write_per_million=p.cache_write_per_million,
        )
        for p in ModelPrice.objects.all()
    }


def load_snapshot() -> ConfigSnapshot:
    """Build a fresh snapshot from the database, bypassing the cache."""
    version = config_version()
    return ConfigSnapshot(
        version=version,
        providers=_load_providers(),
        tasks=_load_tasks(),
        prices=_load_prices(),
    )


def config_snapshot() -> ConfigSnapshot:
    """The current configuration: cached per process, reloaded when the version moves."""
    key = connection.alias
    version = config_version()
    cached = _cached.get(key)
    if cached is not None and cached.version == version:
        return cached
    snapshot = load_snapshot()
    # Inside a transaction the version may still roll back, and SQLite can then hand
    # the same id to a different change: only cache what was read outside one.
    if not connection.in_atomic_block:
        with _cache_lock:
            _cached[key] = snapshot
    return snapshot


def clear_config_cache() -> None:
    """Forget cached snapshots (tests that rewrite tables behind the services use this)."""
    _cached.clear()


def get_task_config(*, task: str) -> TaskConfig:
    """One task's effective assignment; raises UnknownTask with the known names."""
    snapshot = config_snapshot()
    try:
        return snapshot.tasks[task]
    except KeyError:
        raise UnknownTask(task, sorted(snapshot.tasks)) from None


def list_task_configs() -> list[TaskConfig]:
    """Every task's effective assignment, by name."""
    return list(config_snapshot().tasks.values())


def get_provider(*, name: str) -> ProviderInfo | None:
    """A provider by name, or None."""
    return config_snapshot().providers.get(name)


def list_providers() -> list[ProviderInfo]:
    """Every provider, by name."""
    return sorted(config_snapshot().providers.values(), key=lambda p: p.name)


def providers_in_use(snapshot: ConfigSnapshot) -> Mapping[str, list[str]]:
    """For each provider name, the tasks whose chain uses it."""
    used: dict[str, list[str]] = {}
    for config in snapshot.tasks.values():
        for step in config.chain:
            tasks = used.setdefault(step.provider, [])
            if config.task not in tasks:
                tasks.append(config.task)
    return used


# --- usage ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UsageRow:
    """The call log summed for one task, provider and model."""

    task: str
    provider: str
    model: str
    calls: int
    errors: int
    fallbacks: int
    input_tokens: int
    output_tokens: int
    images: int
    cost_usd: Decimal | None
    unpriced_calls: int
    p50_latency_ms: float | None
    p95_latency_ms: float | None


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """The nearest-rank percentile of `values` (None for no values)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def usage_summary(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    task: str | None = None,
) -> list[UsageRow]:
    """Calls, errors, fallbacks, tokens, cost and latency percentiles per task/provider/model.

    Whole hours come from the usage rollup, the partial hours at either end from the
    call log, so counts and cost are exactly the log's; percentiles of keys the rollup
    contributes to are read from its histogram (within 4.5%), the others are exact.
    When the rollup does not count the rows the log holds for those hours (rows
    written some other way, not yet rebuilt), the whole period is read from the log.
    """
    end = until if until is not None else timezone.now()
    last_hour = hour_of(end)
    first_hour = None if since is None else _ceil_hour(since)
    if first_hour is not None and first_hour >= last_hour:
        return _usage_summary_from_log(since=since, until=until, task=task)
    if not _rollup_in_step(first_hour, last_hour, task):
        return _usage_summary_from_log(since=since, until=until, task=task)
    return _usage_summary_from_rollup(
        since=since, end=end, first_hour=first_hour, last_hour=last_hour, task=task
    )


def _usage_summary_from_log(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    task: str | None = None,
) -> list[UsageRow]:
    """`usage_summary` read from the call log alone (exact percentiles, slow on big logs)."""
    logs = CallLog.objects.all()
    if since is not None:
        logs = logs.filter(created_at__gte=since)
    if until is not None:
        logs = logs.filter(created_at__lt=until)
    if task:
        logs = logs.filter(task=task)
    keys = ("task", "provider", "model")
    totals = (
        logs.values(*keys)
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)),
            fallbacks=Count("id", filter=Q(is_fallback=True)),
            input_tokens=Sum("input_tokens"),
            output_tokens=Sum("output_tokens"),
            images=Sum("image_count"),
            cost=Sum("cost_usd"),
            unpriced=Count("id", filter=Q(outcome=CallOutcome.SUCCESS, cost_usd__isnull=True)),
        )
        .order_by(*keys)
    )
    latencies: dict[tuple[str, str, str], list[float]] = {}
    for row in logs.values_list(*keys, "latency_ms"):
        latencies.setdefault(row[:3], []).append(row[3])
    result = []
    for row in totals:
        key = (row["task"], row["provider"], row["model"])
        values = latencies.get(key, [])
        result.append(
            UsageRow(
                task=row["task"],
                provider=row["provider"],
                model=row["model"],
                calls=row["calls"],
                errors=row["errors"],
                fallbacks=row["fallbacks"],
                input_tokens=row["input_tokens"] or 0,
                output_tokens=row["output_tokens"] or 0,
                images=row["images"] or 0,
                cost_usd=row["cost"],
                unpriced_calls=row["unpriced"],
                p50_latency_ms=percentile(values, 0.50),
                p95_latency_ms=percentile(values, 0.95),
            )
        )
    return result


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """Calls and cost on one day (in the server's time zone)."""

    day: date
    calls: int
    errors: int
    fallbacks: int
    cost_usd: Decimal


def usage_by_day(*, since: datetime, until: datetime | None = None) -> list[DailyUsage]:
    """One entry per day from `since` to `until` (days without calls included, as zero)."""
    until = until or timezone.now()
    logs = CallLog.objects.filter(created_at__gte=since, created_at__lt=until)
    totals = {
        row["day"]: row
        for row in logs.annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            calls=Count("id"),
            errors=Count("id", filter=Q(outcome__in=FAILED_OUTCOMES)),
            fallbacks=Count("id", filter=Q(is_fallback=True)),
            cost=Sum("cost_usd"),
        )
    }
    first, last = timezone.localdate(since), timezone.localdate(until)
    days = []
    day = first
    while day <= last:
        row = totals.get(day)
        days.append(
            DailyUsage(
                day=day,
                calls=row["calls"] if row else 0,
                errors=row["errors"] if row else 0,
                fallbacks=row["fallbacks"] if row else 0,
                cost_usd=(row["cost"] or Decimal(0)) if row else Decimal(0),
            )
        )
        day += timedelta(days=1)
    return days


# --- history -------------------------------------------------------------------------


def list_changes(
    *, target: str | None = None, channel: str | None = None
) -> QuerySet[ConfigChange]:
    """Configuration changes, newest first, with who made them and what reverted them."""
    changes = ConfigChange.objects.select_related("user").prefetch_related("reverted_by")
    if target:
        changes = changes.filter(target_type=target)
    if channel:
        changes = changes.filter(channel=channel)
    return changes.order_by("-id")


def change_version(*, target_type: str, target_name: str) -> int:
    """The version of one task/provider/model: the id of its newest change (0 before any).

    Edit forms carry it; a save whose version is no longer the newest is refused.
    """
    newest = (
        ConfigChange.objects.filter(target_type=target_type, target_name=target_name)
        .order_by("-id")
        .values_list("id", flat=True)
        .first()
    )
    return int(newest or 0)


def change_state(*, target_type: str, target_name: str, change_id: int) -> dict[str, Any] | None:
    """The object's recorded state right after its change `change_id` (None if none such)."""
    after = (
        ConfigChange.objects.filter(pk=change_id, target_type=target_type, target_name=target_name)
        .values_list("after", flat=True)
        .first()
    )
    return after if isinstance(after, dict) else None


def changes_since(*, target_type: str, target_name: str, after_id: int) -> list[ConfigChange]:
    """Changes to one object newer than change `after_id`, oldest first, with their users."""
    return list(
        ConfigChange.objects.filter(
            target_type=target_type, target_name=target_name, id__gt=after_id
        )
        .select_related("user")
        .order_by("id")
    )


def later_changes(*, change: ConfigChange) -> list[ConfigChange]:
    """Changes to the same object made after `change`: what reverting it would also undo."""
    return changes_since(
        target_type=change.target_type, target_name=change.target_name, after_id=change.pk
    )


def recent_failures(*, since: datetime | None = None, limit: int = 10) -> list[CallLog]:
    """The newest failed attempts, for the Usage page's "what went wrong" list."""
    failures = CallLog.objects.filter(outcome__in=FAILED_OUTCOMES)
    if since is not None:
        failures = failures.filter(created_at__gte=since)
    return list(failures.order_by("-created_at", "-id")[:limit])


def recent_playground_runs(*, limit: int = 20) -> list[PlaygroundRun]:
    """The newest saved playground runs, with who ran them."""
    return list(PlaygroundRun.objects.select_related("user")[:limit])


# --- usage rollup ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollupDrift:
    """Call-log rows and the attempts the rollup counts for them, since `since`."""

    since: datetime
    log_rows: int
    rollup_attempts: int

    @property
    def in_step(self) -> bool:
        """Whether the rollup counts exactly the rows the call log holds."""
        return self.log_rows == self.rollup_attempts


def last_prune_cutoff() -> datetime | None:
    """Up to when the call log was last pruned (the rollup alone holds what came before)."""
    change = (
        ConfigChange.objects.filter(
            target_type=ConfigChange.Target.CALLLOG, action=ConfigChange.Action.DELETE
        )
        .order_by("-created_at", "-id")
        .only("before")
        .first()
    )
    raw = (change.before or {}).get("older_than") if change else None
    return datetime.fromisoformat(raw) if isinstance(raw, str) else None


def rollup_drift(*, window: timedelta = timedelta(days=1)) -> RollupDrift:
    """Compare the call log with the rollup over the last `window` (whole hours).

    Two indexed range aggregates, cheap enough for `manage.py check`. Hours a prune
    cut into are left out: their rollup rightly counts rows the log no longer has.
    """
    since = hour_of(timezone.now() - window)
    cutoff = last_prune_cutoff()
    if cutoff is not None and cutoff > since:
        since = hour_of(cutoff) + timedelta(hours=1)
    log_rows = CallLog.objects.filter(created_at__gte=since).count()
    attempts = UsageRollup.objects.filter(hour__gte=since).aggregate(n=Sum("attempts"))["n"]
    return RollupDrift(since=since, log_rows=log_rows, rollup_attempts=attempts or 0)


def _ceil_hour(moment: datetime) -> datetime:
    start = hour_of(moment)
    return start if start == moment else start + timedelta(hours=1)


def _rollup_in_step(first_hour: datetime | None, last_hour: datetime, task: str | None) -> bool:
    """Whether the rollup counts exactly the call-log rows of these whole hours.

    Hours before the last prune are not compared: only the rollup still has them.
    """
    start = first_hour
    cutoff = last_prune_cutoff()
    if cutoff is not None:
        after_prune = hour_of(cutoff) + timedelta(hours=1)
        start = after_prune if start is None else max(start, after_prune)
    logs = CallLog.objects.filter(created_at__lt=last_hour)
    rolled = UsageRollup.objects.filter(hour__lt=last_hour)
    if start is not None:
        logs = logs.filter(created_at__gte=start)
        rolled = rolled.filter(hour__gte=start)
    if task:
        logs = logs.filter(task=task)
        rolled = rolled.filter(task=task)
    attempts = rolled.aggregate(n=Sum("attempts"))["n"] or 0
    return logs.count() == attempts


@dataclass
class _Sums:
    """One task/provider/model's figures while they are added up."""

    calls: int = 0
    errors: int = 0
    fallbacks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    cost: Decimal = Decimal(0)
    priced: int = 0
    unpriced: int = 0
    buckets: list[int] | None = None
    latencies: list[float] | None = None


def _usage_summary_from_rollup(
    *,
    since: datetime | None,
    end: datetime,
    first_hour: datetime | None,
    last_hour: datetime,
    task: str | None,
) -> list[UsageRow]:
    keys = ("task", "provider", "model")
    rolled = UsageRollup.objects.filter(hour__lt=last_hour)
    if first_hour is not None:
        rolled = rolled.filter(hour__gte=first_hour)
    edges = CallLog.objects.filter(created_at__gte=last_hour, created_at__lt=end)
    if since is not None and first_hour is not None and since < first_hour:
        edges = CallLog.objects.filter(
            Q(created_at__gte=since, created_at__lt=first_hour)
            | Q(created_at__gte=last_hour, created_at__lt=end)
        )
    if task:
        rolled = rolled.filter(task=task)
        edges = edges.filter(task=task)
    fields = ("attempts", "errors", "fallbacks", "input_tokens", "output_tokens", "images")
    annotations: dict[str, Any] = {f: Sum(f) for f in (*fields, "cost_e8", "priced", "unpriced")}
    annotations.update({column: Sum(column) for column in BUCKET_COLUMNS})
    sums: dict[tuple[str, str, str], _Sums] = {}
    for row in rolled.values(*keys).annotate(**annotations).order_by():
        entry = sums.setdefault((row["task"], row["provider"], row["model"]), _Sums())
        entry.calls += row["attempts"] or 0
        entry.errors += row["errors"] or 0
        entry.fallbacks += row["fallbacks"] or 0
        entry.input_tokens += row["input_tokens"] or 0
        entry.output_tokens += row["output_tokens"] or 0
        entry.images += row["images"] or 0
        entry.cost += Decimal(row["cost_e8"] or 0) / ROLLUP_COST_UNITS
        entry.priced += row["priced"] or 0
        entry.unpriced += row["unpriced"] or 0
        entry.buckets = [row[column] or 0 for column in BUCKET_COLUMNS]
    for values in edges.values_list(
        *keys,
        "outcome",
        "is_fallback",
        "input_tokens",
        "output_tokens",
        "image_count",
        "cost_usd",
        "latency_ms",
    ).order_by():
        entry = sums.setdefault(values[:3], _Sums())
        outcome, is_fallback, tokens_in, tokens_out, images, cost, latency = values[3:]
        entry.calls += 1
        entry.errors += outcome in FAILED_OUTCOMES
        entry.fallbacks += bool(is_fallback)
        entry.input_tokens += tokens_in or 0
        entry.output_tokens += tokens_out or 0
        entry.images += images or 0
        if cost is None:
            entry.unpriced += outcome == CallOutcome.SUCCESS
        else:
            entry.cost += cost
            entry.priced += 1
        if entry.buckets is not None:
            entry.buckets[latency_bucket(latency)] += 1
        else:
            if entry.latencies is None:
                entry.latencies = []
            entry.latencies.append(latency)
    result = []
    for key in sorted(sums):
        entry = sums[key]
        if entry.buckets is not None:
            p50 = histogram_percentile(entry.buckets, 0.50)
            p95 = histogram_percentile(entry.buckets, 0.95)
        else:
            p50 = percentile(entry.latencies or [], 0.50)
            p95 = percentile(entry.latencies or [], 0.95)
        result.append(
            UsageRow(
                task=key[0],
                provider=key[1],
                model=key[2],
                calls=entry.calls,
                errors=entry.errors,
                fallbacks=entry.fallbacks,
                input_tokens=entry.input_tokens,
                output_tokens=entry.output_tokens,
                images=entry.images,
                cost_usd=entry.cost.quantize(ROLLUP_COST_PRECISION) if entry.priced else None,
                unpriced_calls=entry.unpriced,
                p50_latency_ms=p50,
                p95_latency_ms=p95,
            )
        )
    return result


ROLLUP_COST_UNITS = Decimal(100_000_000)
ROLLUP_COST_PRECISION = Decimal("0.00000001")


# --- API tokens (the HTTP gateway) ------------------------------------------------------


def hash_secret(secret: str) -> str:
    """The stored form of a token: sha256 hex (tokens are random, so no salt is needed)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def find_token(*, secret: str) -> ApiToken | None:
    """The token row for a presented secret (revoked and expired ones included), or None."""
    return ApiToken.objects.filter(secret_hash=hash_secret(secret)).first()


def list_tokens() -> list[ApiToken]:
    """Every token, revoked ones included, by name."""
    return list(ApiToken.objects.select_related("created_by").order_by("name"))


def month_start(now: datetime | None = None) -> datetime:
    """The start of the current calendar month (UTC), when monthly budgets reset."""
    now = now or timezone.now()
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def token_month_spend(*, name: str) -> Decimal:
    """What a token's calls have cost this calendar month, in USD."""
    total = CallLog.objects.filter(api_token=name, created_at__gte=month_start()).aggregate(
        total=Sum("cost_usd")
    )["total"]
    return total or Decimal(0)
