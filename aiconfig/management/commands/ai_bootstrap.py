"""`manage.py ai_bootstrap`: on a database without users, create the first admin.

`make run` calls it after `migrate`, so a newcomer can sign in to the dashboard
without reading further than the README. It never prompts: the password is either
taken from `AICONFIG_ADMIN_PASSWORD` or generated and printed exactly once.
"""

from __future__ import annotations

import os
import secrets
from argparse import ArgumentParser
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

PASSWORD_ENV = "AICONFIG_ADMIN_PASSWORD"


class Command(BaseCommand):
    """Create superuser `admin` (or `--username`) when no user exists; otherwise do nothing."""

    help = (
        "Create the first superuser when the database has no users, with the password from "
        f"{PASSWORD_ENV} or a random one printed once. Does nothing when users exist."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        """`--username` and `--url` (where to sign in, shown in the output)."""
        parser.add_argument("--username", default="admin", help="Default: admin.")
        parser.add_argument(
            "--url",
            default="http://127.0.0.1:8000/",
            help="The dashboard's address, printed so the newcomer knows where to sign in.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        """Create the user, or report that users exist."""
        user_model = get_user_model()
        username: str = options["username"]
        env_password = os.environ.get(PASSWORD_ENV, "")
        password = env_password or secrets.token_urlsafe(16)
        with transaction.atomic():
            # Checked inside the transaction so two racing runs cannot both create one.
            if user_model._default_manager.exists():
                self.stdout.write("ai_bootstrap: users exist; nothing to do.")
                return
            user_model._default_manager.create_superuser(
                username=username, email="", password=password
            )
        url = options["url"].rstrip("/") + "/login/"
        self.stdout.write(self.style.SUCCESS(f"ai_bootstrap: created superuser '{username}'."))
        if env_password:
            self.stdout.write(f"  Password: the value of {PASSWORD_ENV}.")
        else:
            # Shown once and stored only as a hash; change it after signing in.
            self.stdout.write(f"  Password: {password}")
            self.stdout.write("  (shown only now; change it from the user menu after signing in)")
        self.stdout.write(f"  Sign in at {url}")
