"""`manage.py ai_calls`: the call explorer on the command line.

The same filters as /calls/ (`--task`, `--provider`, `--model`, `--outcome`, `--source`,
`--user`, `--since`, `--until`), the newest calls first, one line per call; `--csv`
writes the matching attempts as the page's CSV download does.
"""

from __future__ import annotations

import csv
import sys
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aiconfig.formatting import ms, tokens, usd
from aiconfig.forms.calls import CallFilterForm, resolved_filters
from aiconfig.presenters import calls as present
from aiconfig.selectors import calls as call_selectors

FILTERS = ("task", "provider", "model", "outcome", "source", "user", "since", "until")
MAX_LIMIT = 1000


class Command(BaseCommand):
    """List calls (attempts folded), newest first, or export the matching attempts as CSV."""

    help = "List calls newest first with the call explorer's filters, or --csv the attempts."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        """The explorer's filters, --limit and --csv."""
        for name in FILTERS:
            parser.add_argument(f"--{name}", default="")
        parser.add_argument(
            "--limit", type=int, default=None,
            help=f"How many calls to list (default 20, at most {MAX_LIMIT}); "
            "with --csv, how many attempts (default: all).",
        )  # fmt: skip
        parser.add_argument("--csv", action="store_true", help="The matching attempts as CSV.")

    def handle(self, *args: Any, **options: Any) -> None:
        """Validate the filters like the page does, then print."""
        form = CallFilterForm({name: options[name] for name in FILTERS})
        filters = resolved_filters(form)
        if filters is None:
            problems = [
                f"--{field}: {' '.join(errors)}" if field != "__all__" else " ".join(errors)
                for field, errors in form.errors.items()
            ]
            raise CommandError("; ".join(problems))
        limit = options["limit"]
        if limit is not None and not 1 <= limit <= (sys.maxsize if options["csv"] else MAX_LIMIT):
            raise CommandError(f"--limit must be between 1 and {MAX_LIMIT}.")
        if options["csv"]:
            self._csv(filters, limit)
            return
        page = call_selectors.call_page(filters=filters, size=limit or 20)
        if not page.calls:
            filtered = any(options[name] for name in FILTERS)
            self.stdout.write("No calls match these filters." if filtered else "No calls.")
        for call in page.calls:
            route = f"{call.provider}/{call.model}" + (" (fallback)" if call.fallback else "")
            self.stdout.write(
                f"{call.when:%Y-%m-%d %H:%M:%S}  {call.task}  {route}  "
                f"{call.attempts} attempt{'s' if call.attempts != 1 else ''}  {call.outcome}  "
                f"{ms(call.latency_ms)}  {tokens(call.input_tokens, call.output_tokens)}  "
                f"{usd(call.cost_usd)}  {call.request_id}"
            )

    def _csv(self, filters: call_selectors.CallFilters, limit: int | None) -> None:
        writer = csv.writer(self.stdout, lineterminator="\n")
        writer.writerow(present.EXPORT_COLUMNS)
        for number, record in enumerate(call_selectors.attempts_for_export(filters=filters)):
            if limit is not None and number >= limit:
                break
            writer.writerow(present.export_cells(record))
