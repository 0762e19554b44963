"""The playground's saved runs, and who may see or make them.

Viewers may look at saved runs; editors and endpoint admins may also make them
(running itself still needs `run_task`). Permissions are created here first, as in
0002, because a fresh database has none yet at this point.
"""

from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

VIEWERS = "AI config viewers"
RUNNERS = ("AI config editors", "AI endpoint admins")


def grant(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    create_permissions(
        global_apps.get_app_config("aiconfig"), verbosity=0, using=db_alias, apps=apps
    )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    ours = Permission.objects.using(db_alias).filter(
        content_type__app_label="aiconfig", content_type__model="playgroundrun"
    )
    for group in Group.objects.using(db_alias).filter(name=VIEWERS):
        group.permissions.add(*ours.filter(codename="view_playgroundrun"))
    for group in Group.objects.using(db_alias).filter(name__in=RUNNERS):
        group.permissions.add(*ours.filter(codename__in=["view_playgroundrun", "add_playgroundrun"]))


def revoke(apps, schema_editor):
    # The permissions themselves go with the model's content type; only the grants here.
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    db_alias = schema_editor.connection.alias
    ours = Permission.objects.using(db_alias).filter(
        content_type__app_label="aiconfig", content_type__model="playgroundrun"
    )
    for group in Group.objects.using(db_alias).filter(name__in=(VIEWERS, *RUNNERS)):
        group.permissions.remove(*ours)


class Migration(migrations.Migration):

    dependencies = [
        ('aiconfig', '0005_total_timeout_and_outcomes'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='PlaygroundRun',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
                ('prompt', models.TextField()),
                ('system', models.TextField(blank=True)),
                ('temperature', models.FloatField(blank=True, null=True)),
                ('max_tokens', models.PositiveIntegerField(blank=True, null=True)),
                ('json_schema', models.JSONField(blank=True, null=True)),
                ('tools', models.JSONField(blank=True, null=True)),
                ('columns', models.JSONField(default=list)),
                ('status', models.CharField(choices=[('running', 'Running'), ('finished', 'Finished'), ('stopped', 'Stopped')], default='running', max_length=16)),
                ('user', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
