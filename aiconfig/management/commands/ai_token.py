"""`manage.py ai_token`: create, list and revoke the HTTP gateway's API tokens."""

from __future__ import annotations

import json
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from aiconfig.models import ApiToken
from aiconfig.selectors import list_tokens
from aiconfig.services.tokens import TokenError, create_token, parse_expires, revoke_token


def token_record(token: ApiToken) -> dict[str, Any]:
    """A token as `list --json` prints it: never the secret, only its prefix."""

    def when(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "name": token.name,
        "prefix": token.prefix,
        "tasks": list(token.tasks),
        "rate_limit_per_minute": token.rate_limit_per_minute,
        "monthly_budget_usd": (
            f"{token.monthly_budget_usd.normalize():f}"
            if token.monthly_budget_usd is not None
            else None
        ),
        "created_at": when(token.created_at),
        "expires_at": when(token.expires_at),
        "revoked_at": when(token.revoked_at),
        "last_used_at": when(token.last_used_at),
    }


class Command(BaseCommand):
    """API tokens for /v1/: create (shown once), list, revoke."""

    help = (
        "API tokens for the HTTP gateway: create NAME [--tasks text,image] [--expires 90d] "
        "[--rate-limit N] [--budget USD] [--json] | list [--json] | revoke NAME."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """One sub-command each: create, list, revoke."""
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token; it is printed this once.")
        create.add_argument("name")
        create.add_argument("--tasks", default="", help="Comma-separated tasks it may call.")
        create.add_argument("--expires", help="Lifetime: 90d, 12h or 2w (default: never).")
        create.add_argument("--rate-limit", type=int, help="Requests per minute.")
        create.add_argument("--budget", help="Monthly budget in USD.")
        create.add_argument("--json", action="store_true", help='Print {"token": ..., ...}.')
        listing = sub.add_parser("list", help="Every token (prefix only, never the secret).")
        listing.add_argument("--json", action="store_true", help='Print {"tokens": [...]}.')
        revoke = sub.add_parser("revoke", help="Refuse every request with this token from now.")
        revoke.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        """Run the sub-command; bad input is a one-line error, nothing created."""
        try:
            match options["action"]:
                case "create":
                    self._create(options)
                case "list":
                    self._list(options)
                case "revoke":
                    token = revoke_token(name=options["name"])
                    self.stdout.write(f"Revoked {token.name} ({token.prefix}…).")
        except TokenError as error:
            raise CommandError(str(error)) from None

    def _create(self, options: dict[str, Any]) -> None:
        expires = parse_expires(options["expires"]) if options["expires"] else None
        new = create_token(
            name=options["name"],
            tasks=options["tasks"].split(","),
            expires_at=expires,
            rate_limit_per_minute=options["rate_limit"],
            monthly_budget_usd=options["budget"],
        )
        if options["json"]:
            self.stdout.write(json.dumps({"token": new.secret, **token_record(new.token)}))
            return
        self.stdout.write(
            f"Created token {new.token.name}. Copy it now, it is not shown again:\n\n"
            f"    {new.secret}\n\n"
            "Use it as: Authorization: Bearer <token>, base URL http(s)://<this host>/v1"
        )

    def _list(self, options: dict[str, Any]) -> None:
        tokens = list_tokens()
        if options["json"]:
            self.stdout.write(json.dumps({"tokens": [token_record(t) for t in tokens]}))
            return
        if not tokens:
            self.stdout.write("No API tokens. Create one with: manage.py ai_token create NAME")
            return
        for t in tokens:
            state = "revoked" if t.revoked else "active"
            tasks = ",".join(t.tasks) or "all tasks"
            limit = f"{t.rate_limit_per_minute}/min" if t.rate_limit_per_minute else "no limit"
            budget = (
                f"${t.monthly_budget_usd.normalize():f}/month"
                if t.monthly_budget_usd
                else "no budget"
            )
            used = t.last_used_at.isoformat(timespec="seconds") if t.last_used_at else "never"
            expires = t.expires_at.isoformat(timespec="seconds") if t.expires_at else "never"
            self.stdout.write(
                f"{t.name:20} {t.prefix}…  {state:7}  {tasks}; {limit}; {budget}; "
                f"expires {expires}; last used {used}"
            )
