"""Providers and their model lists in the admin; no key value is ever shown."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from aiconfig import services
from aiconfig.admin.common import VersionedAdminForm, add_problems
from aiconfig.endpoints import ENDPOINT_FIELDS, can_manage_endpoints
from aiconfig.models import Channel, ConfigChange, Provider, ProviderModel
from aiconfig.selectors import config_snapshot, providers_in_use
from aiconfig.snapshots import ProviderInfo
from aiconfig.validation import (
    check_model_name,
    check_provider,
    check_provider_format,
    check_provider_limits,
)


class ProviderAdminForm(VersionedAdminForm):
    """The provider's own fields, then the rules needing tasks (from the cached snapshot)."""

    class Meta:
        model = Provider
        fields = (
            "name",
            "label",
            "kind",
            "enabled",
            "base_url",
            "api_key_env",
            "key_required",
            "default_text_model",
            "default_image_model",
            "pricing_id",
            "self_hosted",
        )

    target_type = ConfigChange.Target.PROVIDER

    def clean(self) -> dict[str, Any]:
        """Rules that need the whole provider: e.g. a provider in use needs a base URL."""
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        add_problems(self, check_provider_format(cleaned) + check_provider_limits(cleaned))
        if self.errors:
            return cleaned
        name = cleaned.get("name") or self.instance.name
        # Read-only fields (endpoint settings for users without manage_endpoints) are not
        # in the form: judge the provider as it will be saved, stored values included.
        stored = {f: getattr(self.instance, f) for f in ENDPOINT_FIELDS}
        info = ProviderInfo.build(name=name, fields={**stored, **cleaned})
        in_use = providers_in_use(config_snapshot()).get(name, [])
        for problem in check_provider(provider=info, in_use_by=in_use):
            if not problem.is_error:
                continue
            if problem.field in ENDPOINT_FIELDS and problem.field not in self.changed_data:
                # A stored endpoint problem must not block, say, disabling the provider;
                # calls refuse it anyway.
                continue
            self.add_error(problem.field if problem.field in self.fields else None, problem.text)
        return cleaned


class ProviderModelInlineForm(forms.ModelForm):
    """A model name follows the shared limits (length, no spaces or control characters)."""

    class Meta:
        model = ProviderModel
        fields = ("name",)

    def clean(self) -> dict[str, Any]:
        """Checked here rather than in ProviderModel.clean(): models hold data only."""
        cleaned = super().clean() or {}
        if isinstance(cleaned.get("name"), str):
            add_problems(self, check_model_name(cleaned["name"].strip(), field="name"))
        return cleaned


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
    form = ProviderModelInlineForm
    extra = 0
    fields = (
        "name",
        "supports_text",
        "supports_image",
        "supports_structured",
        "supports_tools",
        "notes",
    )


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderAdminForm
    list_display = (
        "name",
        "label",
        "kind",
        "effective_base_url",
        "key_status",
        "enabled",
        "builtin",
        "model_count",
    )
    list_filter = ("kind", "enabled", "builtin", "self_hosted")
    search_fields = ("name", "label", "base_url", "models__name")
    inlines = [ProviderModelInline]
    fieldsets = (
        (None, {"fields": ("name", "label", "kind", "enabled", "version")}),
        ("Connection", {"fields": ("base_url", "api_key_env", "key_required", "key_status")}),
        (
            "Models and prices",
            {"fields": ("default_text_model", "default_image_model", "pricing_id", "self_hosted")},
        ),
    )
    readonly_fields = ("key_status",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Provider]:
        return super().get_queryset(request).prefetch_related("models")

    def get_readonly_fields(self, request: HttpRequest, obj: Provider | None = None) -> Any:
        # Built-in providers keep their name and kind: tasks and env vars refer to them.
        fields = ("name", "kind", "key_status") if obj is not None else ("key_status",)
        if can_manage_endpoints(request.user):
            return fields
        # Where a key is sent is for endpoint admins (the services enforce it too): others
        # see the URL and key variable, and may add only a provider that reads no key.
        if obj is not None:
            return (*fields, "base_url", "api_key_env")
        return (*fields, "api_key_env", "key_required")

    @admin.display(description="base URL")
    def effective_base_url(self, obj: Provider) -> str:
        return obj.base_url or "(SDK default)"

    @admin.display(description="API key")
    def key_status(self, obj: Provider) -> str:
        status = services.config.provider_info(obj).key_status()
        if not status.env_var:
            return "not needed" if not status.required else "no env var configured"
        if not status.allowed:
            return f"{status.env_var}: not allowed as a key variable, never read"
        if not status.is_set:
            return f"{status.env_var}: missing"
        tail = f" ({status.masked})" if status.last4 else ""
        return f"{status.env_var}: set{tail}"

    @admin.display(description="models")
    def model_count(self, obj: Provider) -> int:
        return len(obj.models.all())

    def has_delete_permission(self, request: HttpRequest, obj: Provider | None = None) -> bool:
        if obj is not None and obj.builtin:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: Provider, form: Any, change: bool) -> None:
        fields = {
            name: form.cleaned_data[name]
            for name in services.config.PROVIDER_FIELDS
            if name in form.cleaned_data
        }
        if change:
            fields.pop("kind", None)
            services.update_provider(
                name=obj.name,
                channel=Channel.ADMIN,
                user=request.user,
                expected_version=form.cleaned_data.get("version"),
                **fields,
            )
        else:
            info = services.add_provider(
                name=obj.name, channel=Channel.ADMIN, user=request.user, **fields
            )
            # The service saved its own row; point the admin's object at it.
            obj.pk = Provider.objects.get(name=info.name).pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Provider) -> None:
        services.delete_provider(name=obj.name, channel=Channel.ADMIN, user=request.user)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # The admin's change message reads these; rows are written by the services below.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        provider = form.instance.name
        for inline_form in formset.forms:
            if not hasattr(inline_form, "cleaned_data") or not inline_form.cleaned_data:
                continue
            data = inline_form.cleaned_data
            if data.get("DELETE"):
                if inline_form.instance.pk:
                    services.delete_provider_model(
                        provider=provider,
                        name=inline_form.instance.name,
                        channel=Channel.ADMIN,
                        user=request.user,
                    )
                continue
            if not inline_form.has_changed():
                continue
            services.save_provider_model(
                provider=provider,
                name=data["name"],
                supports_text=data.get("supports_text", False),
                supports_image=data.get("supports_image", False),
                supports_structured=data.get("supports_structured", False),
                supports_tools=data.get("supports_tools", False),
                notes=data.get("notes", ""),
                channel=Channel.ADMIN,
                user=request.user,
            )
