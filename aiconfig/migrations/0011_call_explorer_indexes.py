"""Call-log indexes for the call explorer's filters, the reports and the prune.

`calllog_time` (created_at, id) replaces the plain index on created_at: with `id` as
the tie-breaker, keyset pages walk it in order on PostgreSQL too (SQLite's index already
ended in the rowid). It is created before the old one is dropped, so the log is never
without a time index. Reversible: back, the old index returns and these go.
"""

import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0010_playground_turns_images"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(fields=["created_at", "id"], name="calllog_time"),
        ),
        migrations.AlterField(
            model_name="calllog",
            name="created_at",
            field=models.DateTimeField(default=django.utils.timezone.now),
        ),
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(
                fields=["provider", "model", "created_at"], name="calllog_route_time"
            ),
        ),
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(fields=["outcome", "created_at"], name="calllog_outcome_time"),
        ),
        migrations.AddIndex(
            model_name="calllog",
            index=models.Index(fields=["user", "created_at"], name="calllog_user_time"),
        ),
    ]
