"""Keeping the daily sums equal to the hourly rollup they sum.

Four tables, each per whole UTC day: `UsageDaily` per task, provider, model and
outcome; `UsageDailyRoute` per task, provider and model; `UsageDailyByModel` per
provider and model; `UsageDailyCaller` per task, source, user and API token. A day is
summed once it ended `SETTLED` ago (four hours), from the hourly rollup (or a table
summed from it), with one `INSERT ... SELECT ... GROUP BY` per table, all in one
transaction; `UsageDailyDone` records which days are done (in every table), so
concurrent readers never sum a day twice. The hourly rows of a summed day change only
in two ways, and both forget the days they touch, in the same transaction:

- a call-log row of an hour that began `LATE` (three hours) ago or more is written (a
  row kept in the backlog, an import through the services): `late_days` names its
  day, and `aiconfig.services.rollup_write` deletes that day's sums with the upsert;
- `ai_usage rebuild` recomputes hours: `forget_days` from the first hour it rebuilds.

The hour between `LATE` and `SETTLED` is the margin for a write that started before
its day was summed and commits after (a write is one short transaction). Both are
hours, not days, so that yesterday is summed by 04:00 UTC: reports then read only the
current day (and yesterday until then) hour by hour, where each hour holds nearly
every combination of its keys. A call lasting over two hours (or its row held back as
long) is late, and merely has its day summed again. Readers
(`aiconfig.selectors.rollup`) read summed days from here and every other hour from
the hourly rollup.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from django.db import IntegrityError, connections, router, transaction
from django.utils import timezone

from aiconfig.latency import hour_of
from aiconfig.models import (
    CallLog,
    UsageDaily,
    UsageDailyByModel,
    UsageDailyCaller,
    UsageDailyDone,
    UsageDailyRoute,
    UsageRollup,
)
from aiconfig.selectors import last_prune_cutoff
from aiconfig.selectors.rollup_sums import utc_day_sql

LATE = dt.timedelta(hours=3)
SETTLED = dt.timedelta(hours=4)
# Each daily table, the rollup's key columns it keeps (after the day), and what it is
# summed from, in this order: the hourly rollup, or a daily table summed before it
# (the same figures from a few thousand rows instead of hundreds of thousands).
_TABLES: tuple[tuple[Any, tuple[str, ...], Any], ...] = (
    (UsageDaily, ("task", "provider", "model", "outcome"), UsageRollup),
    (UsageDailyRoute, ("task", "provider", "model"), UsageDaily),
    (UsageDailyByModel, ("provider", "model"), UsageDailyRoute),
    (UsageDailyCaller, ("task", "source", "user_id", "api_token"), UsageRollup),
)


_DONE_TABLE = UsageDailyDone._meta.db_table


def _summed(model: type[Any], keys: tuple[str, ...]) -> list[str]:
    """The columns of a daily table that sum the rollup's (all but its id, day and key)."""
    return [f.column for f in model._meta.concrete_fields if f.name not in {"id", "day", *keys}]


def settled_before(now: dt.datetime | None = None) -> dt.date:
    """The first UTC day not yet settled: every earlier day may be summed."""
    moment = hour_of(now or timezone.now()) - SETTLED
    return moment.date()


def late_days(hours: Iterable[dt.datetime], *, now: float) -> list[dt.date]:
    """The UTC days of rollup hours that began `LATE` ago or more (their daily sums must go)."""
    limit = dt.datetime.fromtimestamp(now, tz=dt.UTC) - LATE
    return sorted({hour.astimezone(dt.UTC).date() for hour in hours if hour < limit})


def sum_settled_days(*, first: dt.date, last: dt.date) -> int:
    """Sum the settled days from `first` to `last` (exclusive) not summed yet; days summed.

    Cheap when they are all done (one indexed range count); the first time, reads
    their hourly rows once.
    """
    last = min(last, settled_before())
    if first >= last:
        return 0
    wanted = (last - first).days
    if UsageDailyDone.objects.filter(day__gte=first, day__lt=last).count() == wanted:
        return 0
    alias = router.db_for_write(UsageDaily)
    try:
        return _sum_days(first=first, last=last, alias=alias)
    except IntegrityError:
        return 0  # another process summed them at the same moment


def _sum_days(*, first: dt.date, last: dt.date, alias: str) -> int:
    connection = connections[alias]
    wanted = (last - first).days
    with transaction.atomic(using=alias):
        done = set(
            UsageDailyDone.objects.using(alias)
            .select_for_update()
            .filter(day__gte=first, day__lt=last)
            .values_list("day", flat=True)
        )
        days = [first + dt.timedelta(days=n) for n in range(wanted)]
        todo = _in_step([d for d in days if d not in done], connection)
        for start, end in _runs(todo):
            for model, keys, source in _TABLES:
                _sum_into(model, keys, source, start=start, end=end, connection=connection)
        UsageDailyDone.objects.using(alias).bulk_create([UsageDailyDone(day=d) for d in todo])
    return len(todo)


def _sum_into(
    model: Any, keys: tuple[str, ...], source: Any, *, start: dt.date, end: dt.date, connection: Any
) -> None:
    """Sum the days [start, end) of `source` (the hourly rollup or a daily table) into `model`."""
    quote = connection.ops.quote_name
    summed = _summed(model, keys)
    key = ", ".join(quote(c) for c in keys)
    columns = ", ".join(quote(c) for c in summed)
    sums = ", ".join(f"SUM({quote(c)})" for c in summed)
    groups = ", ".join(str(n) for n in range(1, len(keys) + 2))
    if source is UsageRollup:
        day, column = utc_day_sql(connection.vendor), "hour"
        bounds = [dt.datetime.combine(d, dt.time.min, tzinfo=dt.UTC) for d in (start, end)]
    else:
        day = column = "day"
        bounds = [start, end]
    field = source._meta.get_field(column)
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} (day, {key}, {columns}) "
        f"SELECT {day}, {key}, {sums} FROM {quote(source._meta.db_table)} "
        f"WHERE {column} >= %s AND {column} < %s GROUP BY {groups}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [field.get_db_prep_value(v, connection) for v in bounds])


def _in_step(days: list[dt.date], connection: Any) -> list[dt.date]:
    """Those of `days` whose hourly rollup counts exactly their call-log rows.

    A day whose log holds rows the rollup lacks (written around the services, not yet
    rebuilt) stays hourly, where reports notice and read the log instead. Days before
    the last prune are taken as they are: only the rollup still knows them.
    """
    if not days:
        return []
    cutoff = last_prune_cutoff()
    pruned_before = cutoff.astimezone(dt.UTC).date() if cutoff is not None else None
    quote = connection.ops.quote_name
    low = dt.datetime.combine(days[0], dt.time.min, tzinfo=dt.UTC)
    high = dt.datetime.combine(days[-1] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    counts: list[dict[dt.date, int]] = []
    for model, column, total in (
        (CallLog, "created_at", "COUNT(*)"),
        (UsageRollup, "hour", f"SUM({quote('attempts')})"),
    ):
        field = model._meta.get_field(column)
        sql = (
            f"SELECT {utc_day_sql(connection.vendor, column)}, {total} "
            f"FROM {quote(model._meta.db_table)} WHERE {quote(column)} >= %s "
            f"AND {quote(column)} < %s GROUP BY 1"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [field.get_db_prep_value(v, connection) for v in (low, high)])
            counts.append({_as_date(day): int(n or 0) for day, n in cursor.fetchall()})
    logged, rolled = counts
    return [
        d
        for d in days
        if logged.get(d, 0) == rolled.get(d, 0) or (pruned_before and d < pruned_before)
    ]


def _as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def _runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Consecutive days as (first, after the last) ranges."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] == day:
            runs[-1] = (runs[-1][0], day + dt.timedelta(days=1))
        else:
            runs.append((day, day + dt.timedelta(days=1)))
    return runs


def forget_days(*, since: dt.datetime | None, using: str) -> None:
    """Drop the daily sums from the day `since` falls in (all when None), e.g. before a rebuild."""
    for model in (*(table for table, _, _ in _TABLES), UsageDailyDone):
        rows = model.objects.using(using)
        if since is not None:
            rows = rows.filter(day__gte=since.astimezone(dt.UTC).date())
        rows.delete()


def forget_statements(days: list[dt.date], *, connection: Any) -> list[tuple[str, list[Any]]]:
    """DELETEs of the daily sums of `days` (for the log writer's own transaction)."""
    quote = connection.ops.quote_name
    field = UsageDaily._meta.get_field("day")
    values = [field.get_db_prep_value(d, connection) for d in days]
    marks = ", ".join(["%s"] * len(days))
    return [
        (f"DELETE FROM {quote(table)} WHERE day IN ({marks})", values)
        for table in [*(model._meta.db_table for model, _, _ in _TABLES), _DONE_TABLE]
    ]


def sum_days_for_report(*, since: dt.datetime | None, until: dt.datetime | None = None) -> int:
    """Before a report from `since` to `until`: sum its settled days not summed yet."""
    if since is None:
        earliest = UsageRollup.objects.order_by("hour").values_list("hour", flat=True).first()
        if earliest is None:
            return 0
        since = earliest
    end = until if until is not None else timezone.now()
    return sum_settled_days(
        first=since.astimezone(dt.UTC).date(), last=end.astimezone(dt.UTC).date()
    )
