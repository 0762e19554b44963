"""`manage.py check`, with AI configuration errors counted as errors."""

from __future__ import annotations

from typing import Any

from django.core.management.commands.check import Command as DjangoCheckCommand

from aiconfig.checks import strict_config_checks


class Command(DjangoCheckCommand):
    """Django's check command; AI configuration problems fail it like any other error."""

    def handle(self, *app_labels: str, **options: Any) -> None:
        """Run the checks with configuration errors reported as errors."""
        with strict_config_checks():
            super().handle(*app_labels, **options)
