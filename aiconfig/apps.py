"""App configuration: seeding after migrate, and the configuration checks."""

from __future__ import annotations

import os
from typing import Any

from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate


def _seed_after_migrate(
    sender: AppConfig, *, using: str, verbosity: int = 1, plan: Any = None, **_: Any
) -> None:
    """Fill in from the environment what the database lacks (see services.seeding)."""
    from aiconfig.services.seeding import seed_from_env

    if using != "default":
        return
    # After migrating backwards the tables lack today's columns; seeding waits for the
    # next forward migrate.
    if any(backwards for _migration, backwards in plan or ()):
        return
    report = seed_from_env(environ=os.environ)
    if report and verbosity >= 1:
        print(f"  aiconfig: seeded from environment: {', '.join(report.created)}")


class AiconfigConfig(AppConfig):
    """The aiconfig app."""

    name = "aiconfig"
    verbose_name = "AI configuration"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the post-migrate seeding and register the system checks."""
        from aiconfig.checks import check_ai_config, check_budgets, check_usage_rollup

        post_migrate.connect(_seed_after_migrate, sender=self, dispatch_uid="aiconfig-seed")
        checks.register(check_ai_config, "aiconfig")
        checks.register(check_usage_rollup, "aiconfig")
        checks.register(check_budgets, "aiconfig")
