"""Drop the call log's one-column indexes on `task` and `user`: two-column indexes lead
with each (`calllog_task_time`, `calllog_user_time`), so these only slowed every insert.

`AlterField` would rebuild the whole table on SQLite (a copy of every row, under its
write lock); dropping the indexes themselves is instant on both databases.
"""

from django.conf import settings
from django.db import migrations, models

# The columns whose single-column indexes go; PostgreSQL also has a `_like` one for task.
COLUMNS = ("task", "user_id")


def _single_column_indexes(schema_editor, table, column):
    with schema_editor.connection.cursor() as cursor:
        constraints = schema_editor.connection.introspection.get_constraints(cursor, table)
    return [
        name
        for name, info in constraints.items()
        if info["index"]
        and not info["unique"]
        and not info["primary_key"]
        and info["columns"] == [column]
    ]


def drop_indexes(apps, schema_editor):
    model = apps.get_model("aiconfig", "CallLog")
    table = model._meta.db_table
    for column in COLUMNS:
        for name in _single_column_indexes(schema_editor, table, column):
            schema_editor.execute(f"DROP INDEX {schema_editor.quote_name(name)}")


def recreate_indexes(apps, schema_editor):
    # The statements `db_index=True` makes (`add_field` uses them too), without the
    # table rebuild `alter_field` would do on SQLite.
    model = apps.get_model("aiconfig", "CallLog")
    for name in ("task", "user"):
        field = model._meta.get_field(name)
        schema_editor.execute(schema_editor._create_index_sql(model, fields=[field]))
        like = getattr(schema_editor, "_create_like_index_sql", None)  # PostgreSQL
        statement = like(model, field) if like and name == "task" else None
        if statement is not None:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0015_usage_daily_keys_in_read_order"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="calllog",
                    name="task",
                    field=models.CharField(max_length=64),
                ),
                migrations.AlterField(
                    model_name="calllog",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(drop_indexes, recreate_indexes)],
        ),
    ]
