"""`manage.py ai_budget`: list, set and delete spending budgets (per task or overall)."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError

from aiconfig.enums import BudgetAction, BudgetPeriod, Channel
from aiconfig.formatting import usd
from aiconfig.selectors.budgets import BudgetStatus, budget_statuses
from aiconfig.services.budgets import delete_budget, save_budget

_PER = {BudgetPeriod.DAILY: "day", BudgetPeriod.WEEKLY: "week", BudgetPeriod.MONTHLY: "month"}


def budget_record(status: BudgetStatus) -> dict[str, Any]:
    """A budget as `list --json` prints it (amounts as strings: exact decimals)."""
    budget = status.budget
    return {
        "task": budget.task or None,
        "amount_usd": f"{budget.amount_usd.normalize():f}",
        "period": budget.period,
        "warn_at_percent": budget.warn_at_percent,
        "action": budget.action,
        "spent_usd": f"{status.spent_usd.normalize():f}",
        "percent": round(status.percent, 1),
        "state": status.state,
        "period_start": status.period_start.isoformat(),
        "resets_at": status.resets_at.isoformat(),
        "email_to": budget.email_to,
        "webhook": bool(budget.webhook_url),
    }


def budget_line(status: BudgetStatus) -> str:
    """`text: $50/month, stop at 100%, warn at 80% — $45 spent (90%) warning`."""
    budget = status.budget
    amount = f"${budget.amount_usd.normalize():f}"
    return (
        f"{budget.task or 'overall'}: {amount}/{_PER[BudgetPeriod(budget.period)]}, "
        f"{'stops' if budget.action == BudgetAction.STOP else 'warns only'} when spent, "
        f"warning at {budget.warn_at_percent}% — {usd(status.spent_usd)} spent "
        f"({status.percent:.0f}%) {status.state}"
    )


def user_error(error: ValidationError | PermissionDenied) -> CommandError:
    """A service's refusal as a one-line command error."""
    if isinstance(error, ValidationError):
        return CommandError(" ".join(error.messages))
    return CommandError(str(error))


class Command(BaseCommand):
    """Budgets: list [--json] | set [--task T] --monthly|--weekly|--daily USD ... | delete."""

    help = (
        "Spending budgets in USD: list [--json] | set [--task TASK] (--monthly|--weekly|--daily "
        "USD) [--warn-at 80] [--action warn|stop] [--email a@x,b@y] [--webhook URL] | "
        "delete [--task TASK]. No --task: the overall budget."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """One sub-command each: list, set, delete."""
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="Every budget with its spend this period.")
        listing.add_argument("--json", action="store_true", help='Print {"budgets": [...]}.')
        put = sub.add_parser("set", help="Create or change a budget.")
        put.add_argument("--task", default="", help="The task (default: overall).")
        amount = put.add_mutually_exclusive_group(required=True)
        for period in BudgetPeriod.values:
            amount.add_argument(f"--{period}", metavar="USD", help=f"A {period} budget.")
        put.add_argument(
            "--warn-at", default=None, help="Warning threshold in % (80 for a new budget)."
        )
        put.add_argument("--action", dest="on_exceed", default=None, choices=BudgetAction.values)
        put.add_argument("--email", default=None, help="Comma-separated alert recipients.")
        put.add_argument("--webhook", default=None, help="A URL alerts are POSTed to.")
        delete = sub.add_parser("delete", help="Remove a budget.")
        delete.add_argument("--task", default="", help="The task (default: overall).")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the sub-command; bad input is a one-line error and changes nothing."""
        try:
            match options["action"]:
                case "list":
                    self._list(json_out=options["json"])
                case "set":
                    self._set(options)
                case "delete":
                    delete_budget(task=options["task"], channel=Channel.CLI)
                    self.stdout.write(f"Deleted the budget of {options['task'] or 'overall'}.")
        except (ValidationError, PermissionDenied) as error:
            raise user_error(error) from None

    def _list(self, *, json_out: bool) -> None:
        statuses = budget_statuses()
        if json_out:
            self.stdout.write(json.dumps({"budgets": [budget_record(s) for s in statuses]}))
            return
        for status in statuses:
            self.stdout.write(budget_line(status))
        if not statuses:
            self.stdout.write("No budgets. Add one with `ai_budget set --monthly USD`.")

    def _set(self, options: dict[str, Any]) -> None:
        period = next(p for p in BudgetPeriod.values if options[p] is not None)
        task = options["task"]
        current = next((s.budget for s in budget_statuses() if s.budget.task == task), None)
        save_budget(
            task=task,
            amount_usd=options[period],
            period=period,
            warn_at_percent=options["warn_at"] or (current.warn_at_percent if current else 80),
            action=options["on_exceed"] or (current.action if current else BudgetAction.WARN),
            email_to=options["email"]
            if options["email"] is not None
            else (current.email_to if current else ""),
            webhook_url=options["webhook"],
            channel=Channel.CLI,
        )
        [status] = [s for s in budget_statuses() if s.budget.task == task]
        self.stdout.write(f"Saved. {budget_line(status)}")
