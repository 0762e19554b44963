"""API tokens for the HTTP gateway (/v1/), and which token made each logged call.

`manage_tokens` (a token spends the providers' keys on someone's behalf) goes to
"AI endpoint admins", never to "AI config editors"; superusers have every permission.
"""

import django.db.models.deletion
from django.apps import apps as global_apps
from django.contrib.auth.management import create_permissions
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

ENDPOINT_ADMINS = "AI endpoint admins"


def grant_manage_tokens(apps, schema_editor):
    db_alias = schema_editor.connection.alias
    create_permissions(
        global_apps.get_app_config("aiconfig"), verbosity=0, using=db_alias, apps=apps
    )
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admins, _ = Group.objects.using(db_alias).get_or_create(name=ENDPOINT_ADMINS)
    admins.permissions.add(
        *Permission.objects.using(db_alias).filter(
            content_type__app_label="aiconfig", codename="manage_tokens"
        )
    )


def revoke_manage_tokens(apps, schema_editor):
    # The permission itself goes with the model's content type; nothing else to undo.
    pass


class Migration(migrations.Migration):

    dependencies = [
        ('aiconfig', '0006_playground'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='ApiToken',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.SlugField(max_length=64, unique=True)),
                ('prefix', models.CharField(max_length=16)),
                ('secret_hash', models.CharField(max_length=64, unique=True)),
                ('tasks', models.JSONField(blank=True, default=list)),
                ('rate_limit_per_minute', models.PositiveIntegerField(blank=True, null=True)),
                ('monthly_budget_usd', models.DecimalField(blank=True, decimal_places=8, max_digits=14, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('revoked_at', models.DateTimeField(blank=True, null=True)),
                ('last_used_at', models.DateTimeField(blank=True, null=True)),
                ('window_start', models.DateTimeField(blank=True, null=True)),
                ('window_count', models.PositiveIntegerField(default=0)),
            ],
            options={
                'ordering': ['name'],
                'permissions': [('manage_tokens', 'Can create, list and revoke API tokens')],
            },
        ),
        migrations.AddField(
            model_name='calllog',
            name='api_token',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.AddIndex(
            model_name='calllog',
            index=models.Index(fields=['api_token', 'created_at'], name='calllog_token_time'),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='created_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.RunPython(grant_manage_tokens, revoke_manage_tokens),
    ]
