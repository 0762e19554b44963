"""Writes to the call log that are not calls: pruning old rows, and nothing else.

The call log is an audit trail: rows are only ever added (by `services.calls`) and,
once old enough, removed in bulk by `prune_call_log`, which records itself in the
change history. There is deliberately no function to edit or delete single rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from aiconfig.models import CallLog, Channel, ConfigChange
from aiconfig.services.history import User, record_change

# Rows deleted per statement and transaction: small enough that a prune of millions of
# rows never holds a long lock (calls keep logging meanwhile), large enough to be quick.
PRUNE_BATCH_SIZE = 5000


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What a prune removed (or, on a dry run, would remove)."""

    older_than: datetime
    rows: int
    dry_run: bool
    change: ConfigChange | None = None


def count_prunable(*, older_than: datetime) -> int:
    """How many call-log rows are older than `older_than`."""
    return CallLog.objects.filter(created_at__lt=older_than).count()


def prune_call_log(
    *,
    older_than: datetime,
    dry_run: bool = False,
    batch_size: int = PRUNE_BATCH_SIZE,
    channel: str = Channel.CODE,
    user: User = None,
) -> PruneResult:
    """Delete call-log rows created before `older_than`, in batches, and record the prune.

    A dry run only counts. A prune that removes rows adds one `ConfigChange`
    (target "calllog", action delete) saying how many rows went and up to when, so
    the history shows who emptied the log; it cannot be reverted. The usage rollup
    keeps the pruned rows' sums (reports over those months still work), and
    `ai_usage rebuild` never recomputes the hours before the cutoff.
    """
    if dry_run:
        rows = count_prunable(older_than=older_than)
        return PruneResult(older_than=older_than, rows=rows, dry_run=True)
    old = CallLog.objects.filter(created_at__lt=older_than)
    deleted = 0
    while True:
        # One short transaction per batch: ids first, so the DELETE is by primary key
        # and works the same on SQLite and PostgreSQL (neither allows DELETE ... LIMIT).
        with transaction.atomic():
            ids = list(old.order_by("id").values_list("id", flat=True)[:batch_size])
            if not ids:
                break
            deleted += CallLog.objects.filter(id__in=ids).delete()[0]
    change = None
    if deleted:
        when = older_than.strftime("%Y-%m-%d %H:%M %Z").strip()
        change = record_change(
            target_type=ConfigChange.Target.CALLLOG,
            target_name=f"rows before {when}",
            before={"rows": deleted, "older_than": older_than.isoformat()},
            after=None,
            channel=channel,
            user=user,
            summary=f"pruned {deleted} call-log rows older than {when}",
        )
    return PruneResult(older_than=older_than, rows=deleted, dry_run=False, change=change)
