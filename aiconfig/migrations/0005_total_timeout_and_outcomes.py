"""A total time limit per task, and outcomes for attempts that timed out or were cancelled.

Reversible: going back drops the field and turns `timed_out`/`cancelled` rows back
into `error`, the only failure outcome before this migration.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def reverse_outcomes(apps: Any, schema_editor: Any) -> None:
    # Before this migration every failed attempt was an "error".
    CallLog = apps.get_model("aiconfig", "CallLog")
    CallLog.objects.filter(outcome__in=["timed_out", "cancelled"]).update(outcome="error")


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0004_audit_prune"),
    ]

    operations = [
        migrations.AddField(
            model_name="taskassignment",
            name="total_timeout_seconds",
            field=models.FloatField(
                blank=True,
                help_text="Wall-clock limit for a whole call, fallbacks included; blank: none.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="calllog",
            name="outcome",
            field=models.CharField(
                choices=[
                    ("success", "Success"),
                    ("error", "Error"),
                    ("timed_out", "Timed out"),
                    ("cancelled", "Cancelled"),
                ],
                max_length=16,
            ),
        ),
        migrations.RunPython(migrations.RunPython.noop, reverse_outcomes),
    ]
