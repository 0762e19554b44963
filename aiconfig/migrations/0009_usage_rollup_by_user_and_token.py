"""The usage rollup keyed by user and API token too, and counting failed calls.

So the Usage page can break usage down by user and token, and tell attempts that
failed from calls that failed for the user, without reading the call log.

Rows summed before this migration stay under "no user, no token" with no failed
calls counted; `python manage.py ai_usage rebuild` recomputes them from the call log
(`check` warns, W201, while the last day's failed calls are missing). Reversible:
going back first merges the rows that differ only by user or token, so the old key
is unique again.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import migrations, models

OLD_KEY = ("hour", "task", "operation", "provider", "model", "outcome", "source")


def merge_users_and_tokens(apps: Any, schema_editor: Any) -> None:
    """Add up the rows of each old key into one, with no user and no token."""
    rollup = apps.get_model("aiconfig", "UsageRollup")
    alias = schema_editor.connection.alias
    counters = [
        f.name
        for f in rollup._meta.concrete_fields
        if isinstance(f, models.IntegerField) and f.name not in (*OLD_KEY, "id", "user_id")
    ]
    groups: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    for row in rollup.objects.using(alias).exclude(user_id=0, api_token=""):
        groups[tuple(getattr(row, f) for f in OLD_KEY)].append(row)
    for key, rows in groups.items():
        target, _ = rollup.objects.using(alias).get_or_create(
            **dict(zip(OLD_KEY, key, strict=True)), user_id=0, api_token=""
        )
        for name in counters:
            setattr(target, name, getattr(target, name) + sum(getattr(r, name) for r in rows))
        target.save(using=alias)
        rollup.objects.using(alias).filter(pk__in=[r.pk for r in rows]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0008_usage_rollup"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="usagerollup",
            name="usage_rollup_key",
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="api_token",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="failed_calls",
            field=models.BigIntegerField(
                db_default=0,
                default=0,
                help_text="Calls whose last attempt failed: the user got an error.",
            ),
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="user_id",
            field=models.BigIntegerField(db_default=0, default=0),
        ),
        migrations.AlterField(
            model_name="usagerollup",
            name="errors",
            field=models.BigIntegerField(
                db_default=0, default=0, help_text="Attempts that failed."
            ),
        ),
        migrations.AddConstraint(
            model_name="usagerollup",
            constraint=models.UniqueConstraint(
                fields=(
                    "hour",
                    "task",
                    "operation",
                    "provider",
                    "model",
                    "outcome",
                    "source",
                    "user_id",
                    "api_token",
                ),
                name="usage_rollup_key",
            ),
        ),
        # Nothing to do forwards (see the docstring); backwards, before the old key returns.
        migrations.RunPython(migrations.RunPython.noop, merge_users_and_tokens),
    ]
