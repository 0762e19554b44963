"""Split where keys go from which models serve a task, and make the audit trail append-only.

- `manage_endpoints` (a provider's base URL and key variable decide where a key is
  sent) is held by a new group "AI endpoint admins", never by "AI config editors".
- Editors lose add/change/delete on the call log and the change history: only
  superusers may alter who did what.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITORS = "AI config editors"
ENDPOINT_ADMINS = "AI endpoint admins"
AUDIT_MODELS = ("calllog", "configchange")
AUDIT_WRITES = [f"{action}_{model}" for action in ("add", "change", "delete") for model in AUDIT_MODELS]


def split_roles(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    create_permissions(
        global_apps.get_app_config("aiconfig"), verbosity=0, using=db_alias, apps=apps
    )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.using(db_alias).filter(content_type__app_label="aiconfig")
    editors, _ = Group.objects.using(db_alias).get_or_create(name=EDITORS)
    editors.permissions.remove(*ours.filter(codename__in=AUDIT_WRITES))
    # Endpoint admins can do everything an editor can, plus decide where keys go.
    admins, _ = Group.objects.using(db_alias).get_or_create(name=ENDPOINT_ADMINS)
    admins.permissions.set(list(editors.permissions.all()))
    admins.permissions.add(*ours.filter(codename="manage_endpoints"))


def merge_roles(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.using(db_alias).filter(content_type__app_label="aiconfig")
    Group.objects.using(db_alias).filter(name=ENDPOINT_ADMINS).delete()
    editors = Group.objects.using(db_alias).filter(name=EDITORS).first()
    if editors is not None:
        editors.permissions.add(*ours.filter(codename__in=AUDIT_WRITES))


class Migration(migrations.Migration):
    dependencies = [
        ("aiconfig", "0002_dashboard_groups"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="provider",
            options={
                "ordering": ["name"],
                "permissions": [
                    (
                        "manage_endpoints",
                        "Can change where provider keys are sent (base URL, key variable)",
                    )
                ],
            },
        ),
        migrations.RunPython(split_roles, merge_roles),
    ]
