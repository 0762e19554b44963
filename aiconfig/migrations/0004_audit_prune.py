"""Pruning the call log is recorded in the change history under a new target, "calllog"."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0003_endpoint_permission"),
    ]

    operations = [
        migrations.AlterField(
            model_name="configchange",
            name="target_type",
            field=models.CharField(
                choices=[
                    ("task", "Task"),
                    ("provider", "Provider"),
                    ("model", "Model"),
                    ("price", "Price"),
                    ("calllog", "Call log"),
                ],
                max_length=16,
            ),
        ),
    ]
