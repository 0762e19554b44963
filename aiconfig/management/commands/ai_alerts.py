"""`manage.py ai_alerts`: send due alerts (for cron), list rules and alerts, manage rules."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand

from aiconfig.enums import AlertMetric, Channel
from aiconfig.management.commands.ai_budget import user_error
from aiconfig.models import SentAlert
from aiconfig.selectors.alerts import list_alert_rules, read_rule, recent_alerts
from aiconfig.services.alerts import check_alerts
from aiconfig.services.budgets import delete_alert_rule, save_alert_rule


def alert_record(alert: SentAlert) -> dict[str, Any]:
    """A sent alert as `--json` prints it."""
    return {
        "kind": alert.kind,
        "subject": alert.subject,
        "period_start": alert.period_start.isoformat(),
        "sent_at": alert.created_at.isoformat(),
        "message": alert.message,
        "delivery": alert.delivery,
    }


class Command(BaseCommand):
    """Alerts: check [--json] | list [--json] | rule NAME ... | delete-rule NAME."""

    help = (
        "Alerts for budgets and alert rules: check [--json] (send what is due; run it from "
        "cron) | list [--json] | rule NAME --metric failure_rate|p95_latency --above N "
        "[--window 15] [--task T] [--email a@x] [--webhook URL] | delete-rule NAME."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """One sub-command each: check, list, rule, delete-rule."""
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="Send every alert due and not yet sent.")
        check.add_argument("--json", action="store_true", help='Print {"sent": [...]}.')
        listing = sub.add_parser("list", help="Alert rules with their current value; alerts.")
        listing.add_argument("--json", action="store_true")
        rule = sub.add_parser("rule", help="Create or change an alert rule.")
        rule.add_argument("name")
        rule.add_argument("--metric", required=True, choices=AlertMetric.values)
        rule.add_argument("--above", required=True, help="Threshold: % or ms.")
        rule.add_argument("--window", default="15", help="Minutes to look back (15).")
        rule.add_argument("--task", default="", help="One task (default: every task).")
        rule.add_argument("--email", default="", help="Comma-separated recipients.")
        rule.add_argument("--webhook", default=None, help="A URL alerts are POSTed to.")
        delete = sub.add_parser("delete-rule", help="Remove an alert rule.")
        delete.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the sub-command; bad input is a one-line error and changes nothing."""
        try:
            match options["action"]:
                case "check":
                    self._check(json_out=options["json"])
                case "list":
                    self._list(json_out=options["json"])
                case "rule":
                    save_alert_rule(
                        name=options["name"],
                        metric=options["metric"],
                        threshold=options["above"],
                        window_minutes=options["window"],
                        task=options["task"],
                        email_to=options["email"],
                        webhook_url=options["webhook"],
                        channel=Channel.CLI,
                    )
                    self.stdout.write(f"Saved alert rule {options['name']}.")
                case "delete-rule":
                    delete_alert_rule(name=options["name"], channel=Channel.CLI)
                    self.stdout.write(f"Deleted alert rule {options['name']}.")
        except (ValidationError, PermissionDenied) as error:
            raise user_error(error) from None

    def _check(self, *, json_out: bool) -> None:
        sent = check_alerts()
        if json_out:
            self.stdout.write(json.dumps({"sent": [alert_record(a) for a in sent]}))
            return
        for alert in sent:
            self.stdout.write(f"{alert.message} [{alert.delivery}]")
        if not sent:
            self.stdout.write("No alert due.")

    def _list(self, *, json_out: bool) -> None:
        readings = [read_rule(rule) for rule in list_alert_rules()]
        alerts = recent_alerts()
        if json_out:
            rules = [
                {
                    "name": r.rule.name,
                    "task": r.rule.task or None,
                    "metric": r.rule.metric,
                    "threshold": r.rule.threshold,
                    "window_minutes": r.rule.window_minutes,
                    "value": r.value,
                    "attempts": r.attempts,
                    "firing": r.firing,
                }
                for r in readings
            ]
            sent = [alert_record(a) for a in alerts]
            self.stdout.write(json.dumps({"rules": rules, "sent": sent}))
            return
        for r in readings:
            state = "FIRING" if r.firing else "ok"
            self.stdout.write(
                f"{r.rule.name}: {r.rule.get_metric_display()} of {r.rule.task or 'every task'} "
                f"over {r.rule.window_minutes} min is {r.shown} (alerts above "
                f"{r.rule.threshold:g}): {state}"
            )
        for alert in alerts:
            self.stdout.write(f"{alert.created_at:%Y-%m-%d %H:%M} {alert.message}")
