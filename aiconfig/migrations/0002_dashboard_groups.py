"""Create the dashboard's two roles as groups: "AI config editors" and "AI config viewers".

Permissions are normally created after all migrations run (post_migrate), so a fresh
database has none yet at this point: create them first, from this migration's state.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "AI config editors"
VIEWERS = "AI config viewers"
MODELS = (
    "provider",
    "providermodel",
    "tasktype",
    "taskassignment",
    "taskfallback",
    "configchange",
    "calllog",
    "modelprice",
)


def create_groups(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    create_permissions(
        global_apps.get_app_config("aiconfig"), verbosity=0, using=db_alias, apps=apps
    )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.using(db_alias).filter(content_type__app_label="aiconfig")
    editor_codenames = [
        f"{action}_{model}" for action in ("add", "change", "delete", "view") for model in MODELS
    ] + ["run_task"]
    viewer_codenames = [f"view_{model}" for model in MODELS]
    editors, _ = Group.objects.using(db_alias).get_or_create(name=EDITORS)
    editors.permissions.add(*ours.filter(codename__in=editor_codenames))
    viewers, _ = Group.objects.using(db_alias).get_or_create(name=VIEWERS)
    viewers.permissions.add(*ours.filter(codename__in=viewer_codenames))


def delete_groups(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Group.objects.using(schema_editor.connection.alias).filter(name__in=[EDITORS, VIEWERS]).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_groups, delete_groups)]
