"""`manage.py ai_usage`: the call log summed by task, provider and model.

`prune` trims the call log (the usage rollup keeps the sums); `rebuild` recomputes
the rollup from the call log.
"""

from __future__ import annotations

import json
import re
import sys
from argparse import ArgumentParser
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from aiconfig.exports import write_csv
from aiconfig.formatting import ms, usd
from aiconfig.latency import hour_of
from aiconfig.models import Channel
from aiconfig.presenters import USAGE_COLUMNS, usage_record
from aiconfig.selectors import UsageRow, usage_summary
from aiconfig.services.calllog import count_prunable, prune_call_log
from aiconfig.services.rollup import rebuild_rollup, rebuild_start
from aiconfig.services.usage_daily import sum_days_for_report

RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_when(value: str) -> datetime:
    """A date (`2026-11-01`), a datetime (ISO 8601) or a relative age (`24h`, `7d`, `2w`)."""
    value = value.strip()
    match = RELATIVE.match(value)
    if match:
        return timezone.now() - timedelta(**{UNITS[match.group(2)]: int(match.group(1))})
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            raise ValueError(value)
        moment = datetime(day.year, day.month, day.day)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    """Calls, errors, fallbacks, tokens, cost and latency per task, provider and model."""

    help = (
        "Summarise the call log by task, provider and model, or: "
        "prune --older-than 180d [--dry-run] [--yes], or rebuild [--since 7d]."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        """Time window, task filter and output format."""
        parser.add_argument("--since", help="Start: 2026-11-01, an ISO datetime, or 24h / 7d.")
        parser.add_argument("--until", help="End (exclusive), same forms as --since.")
        parser.add_argument("--task", help="Only this task.")
        fmt = parser.add_mutually_exclusive_group()
        fmt.add_argument("--json", action="store_true", help='Print {"rows": [...]}.')
        fmt.add_argument("--csv", action="store_true", help="Print CSV with a header row.")
        # Optional, so `ai_usage --since 7d --csv` keeps working as before.
        sub = parser.add_subparsers(dest="action", required=False)
        prune = sub.add_parser("prune", help="Delete call-log rows older than an age or date.")
        prune.add_argument(
            "--older-than", required=True, help="An age (180d, 26w) or a date (2026-05-01)."
        )
        prune.add_argument("--dry-run", action="store_true", help="Only count the rows.")
        prune.add_argument(
            "--yes", "--no-input", action="store_true", dest="yes", help="Do not ask to confirm."
        )
        rebuild = sub.add_parser(
            "rebuild", help="Recompute the hourly usage rollup from the call log."
        )
        rebuild.add_argument(
            "--since",
            dest="rebuild_since",
            help="Only from this hour on: 2026-11-01, an ISO datetime, or 24h / 7d.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Print the summary in the chosen format, or prune."""
        if options.get("action") == "prune":
            self._prune(options)
            return
        if options.get("action") == "rebuild":
            self._rebuild(options)
            return
        try:
            since = parse_when(options["since"]) if options["since"] else None
            until = parse_when(options["until"]) if options["until"] else None
        except ValueError as exc:
            raise CommandError(
                f"Cannot read '{exc}' as a date: use 2026-11-01, 2026-11-01T09:00, 24h or 7d."
            ) from exc
        sum_days_for_report(since=since, until=until)  # so the days read as days, not hours
        summary = usage_summary(since=since, until=until, task=options["task"])
        rows = [usage_record(r) for r in summary]
        if options["json"]:
            self.stdout.write(json.dumps({"rows": rows}, indent=2))
        elif options["csv"]:
            write_csv(self.stdout, columns=USAGE_COLUMNS, records=rows)
        else:
            self._table(summary)

    def _prune(self, options: dict[str, Any]) -> None:
        try:
            cutoff = parse_when(options["older_than"])
        except ValueError as exc:
            raise CommandError(
                f"Cannot read '{exc}' as an age or date: use 180d, 26w or 2026-05-01."
            ) from exc
        when = f"{cutoff:%Y-%m-%d %H:%M %Z}".strip()
        count = count_prunable(older_than=cutoff)
        if options["dry_run"] or not count:
            verb = "Would delete" if options["dry_run"] else "Nothing to delete:"
            self.stdout.write(f"{verb} {count} call-log rows older than {when}.")
            return
        if not options["yes"]:
            if not sys.stdin.isatty():
                raise CommandError(
                    f"This would delete {count} call-log rows older than {when}. "
                    "Pass --yes to confirm (there is no terminal to ask)."
                )
            answer = input(f"Delete {count} call-log rows older than {when}? [y/N] ")
            if answer.strip().lower() not in {"y", "yes"}:
                self.stdout.write("Nothing deleted.")
                return
        result = prune_call_log(older_than=cutoff, channel=Channel.CLI)
        recorded = f" (recorded as change #{result.change.pk})" if result.change else ""
        self.stdout.write(f"Deleted {result.rows} call-log rows older than {when}{recorded}.")

    def _rebuild(self, options: dict[str, Any]) -> None:
        raw = options.get("rebuild_since") or options.get("since")
        try:
            since = parse_when(raw) if raw else None
        except ValueError as exc:
            raise CommandError(
                f"Cannot read '{exc}' as a date: use 2026-11-01, 2026-11-01T09:00, 24h or 7d."
            ) from exc
        start = rebuild_start(since=since)
        written = rebuild_rollup(since=since)
        where = f"from {start:%Y-%m-%d %H:00 %Z}".strip() if start else "for the whole call log"
        self.stdout.write(f"Rebuilt the usage rollup {where}: {written} rows.")
        if start is not None and (since is None or start > hour_of(since)):
            self.stdout.write(
                "Earlier hours were pruned from the call log; their rollup rows were kept."
            )

    def _table(self, rows: Sequence[UsageRow]) -> None:
        if not rows:
            self.stdout.write("No calls in this period.")
            return
        header = ("task", "provider/model", "calls", "errors", "fallbk", "in tok", "out tok",
                  "cost", "p50", "p95")  # fmt: skip
        lines = [header]
        for row in rows:
            # Formatted as the Usage page formats them (aiconfig.formatting).
            cost = usd(row.cost_usd)
            if row.unpriced_calls and row.cost_usd is not None:
                cost += "+?"
            lines.append(
                (
                    row.task,
                    f"{row.provider}/{row.model}",
                    str(row.calls),
                    str(row.errors),
                    str(row.fallbacks),
                    str(row.input_tokens),
                    str(row.output_tokens),
                    cost,
                    ms(row.p50_latency_ms),
                    ms(row.p95_latency_ms),
                )
            )
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        for line in lines:
            cells = [
                cell.ljust(w) if i < 2 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(line, widths, strict=True))
            ]
            self.stdout.write("  ".join(cells))
