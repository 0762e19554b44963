"""Django admin for the AI configuration.

Every save goes through `aiconfig.services`, so admin edits are validated by the
same rules as the dashboard and CLI, recorded in the change history, and seen by
every process on its next call. No API key value is ever shown: only the name of
the env var that holds it, whether it is set, and at most its last four characters.
"""

from __future__ import annotations

import os
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from aiconfig import presenters, selectors, services
from aiconfig.endpoints import ENDPOINT_FIELDS, can_manage_endpoints
from aiconfig.exceptions import RevertNeedsConfirmation, StaleEdit
from aiconfig.models import (
    CallLog,
    Channel,
    ConfigChange,
    ModelPrice,
    Provider,
    ProviderModel,
    TaskAssignment,
    TaskFallback,
    TaskType,
)
from aiconfig.selectors import load_snapshot, providers_in_use
from aiconfig.services.config import check_version, to_route
from aiconfig.snapshots import ProviderInfo, Route
from aiconfig.validation import (
    check_provider,
    check_provider_limits,
    check_route,
    check_task,
    check_task_config,
)

# --- versions ------------------------------------------------------------------------


class VersionedAdminForm(forms.ModelForm):
    """An admin change form that refuses a save based on an old version of its object.

    The hidden `version` is the object's newest change id when the form was opened.
    If someone changed the object since, the save is refused with who changed what,
    the input is kept, and the form moves to the new version so saving again (after
    a look) goes through.
    """

    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    target_type = ""

    def target_name(self) -> str:
        """The name the object's changes are recorded under."""
        return str(getattr(self.instance, "name", ""))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.fields["version"].initial = selectors.change_version(
                target_type=self.target_type, target_name=self.target_name()
            )

    def clean(self) -> dict[str, Any]:
        """Everything else first, then: has the object changed since the form was opened?"""
        cleaned = super().clean() or {}
        if not self.instance.pk or cleaned.get("version") is None:
            return cleaned
        try:
            check_version(
                target_type=self.target_type,
                target_name=self.target_name(),
                expected_version=cleaned["version"],
            )
        except StaleEdit as exc:
            notice = presenters.stale_notice(exc)
            self.add_error(
                None,
                [
                    notice.headline,
                    *notice.changes,
                    "Your input is kept below: check it against the newer values, then "
                    "save again to apply it.",
                ],
            )
            data = self.data.copy()
            data[self.add_prefix("version")] = str(exc.version)
            self.data = data
        return cleaned


# --- providers -------------------------------------------------------------------


class ProviderAdminForm(VersionedAdminForm):
    """Provider.clean() checks the URL and key variable; this adds the rules needing tasks."""

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
        for problem in check_provider_limits(cleaned):
            self.add_error(problem.field if problem.field in self.fields else None, problem.text)
        if self.errors:
            return cleaned
        name = cleaned.get("name") or self.instance.name
        # Read-only fields (endpoint settings for users without manage_endpoints) are not
        # in the form: judge the provider as it will be saved, stored values included.
        stored = {f: getattr(self.instance, f) for f in ENDPOINT_FIELDS}
        info = ProviderInfo.build(name=name, fields={**stored, **cleaned})
        in_use = providers_in_use(load_snapshot()).get(name, [])
        for problem in check_provider(provider=info, in_use_by=in_use):
            if not problem.is_error:
                continue
            if problem.field in ENDPOINT_FIELDS and problem.field not in self.changed_data:
                # A stored endpoint problem must not block, say, disabling the provider;
                # calls refuse it anyway.
                continue
            self.add_error(problem.field if problem.field in self.fields else None, problem.text)
        return cleaned


class ProviderModelInline(admin.TabularInline):
    model = ProviderModel
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


# --- tasks -------------------------------------------------------------------------


def _provider_choices(current: str | None = None) -> list[tuple[str, str]]:
    names = list(Provider.objects.order_by("name").values_list("name", flat=True))
    choices = [(n, n) for n in names]
    if current and current not in names:
        choices.insert(0, (current, f"{current} (unknown provider)"))
    return choices


class TaskAssignmentAdminForm(VersionedAdminForm):
    """The primary route, checked by the same rules as every other entry point."""

    provider = forms.ChoiceField(choices=())
    target_type = ConfigChange.Target.TASK

    def target_name(self) -> str:
        """An assignment's changes are recorded under its task's name."""
        return self.instance.task.name if self.instance.pk else ""

    class Meta:
        model = TaskAssignment
        fields = ("provider", "model", "timeout_seconds", "max_retries", "total_timeout_seconds")
        help_texts = {
            "model": "Blank: the provider's default model for this task. Models not in the "
            "provider's list are accepted; their capabilities are then unknown.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = _provider_choices(self.instance.provider or None)


def _filled_route(route: Route, *, output_kind: str) -> Route:
    if route.model:
        return route
    provider = load_snapshot().providers.get(route.provider)
    return Route(route.provider, provider.default_model_for(output_kind) if provider else "")


class FallbackFormSet(BaseInlineFormSet):
    """Validates the whole chain (primary from the parent form) before anything is saved."""

    def ordered_routes(self) -> list[Route]:
        """The fallbacks left after deletions, by position."""
        rows = []
        for form in self.forms:
            data = getattr(form, "cleaned_data", None) or {}
            if not data or data.get("DELETE") or not data.get("provider"):
                continue
            rows.append((data.get("position") or 0, len(rows), to_route(data)))
        return [route for _, _, route in sorted(rows, key=lambda r: (r[0], r[1]))]

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        assignment: TaskAssignment = self.instance
        output_kind = assignment.task.output_kind
        primary = _filled_route(
            Route(assignment.provider, assignment.model), output_kind=output_kind
        )
        fallbacks = [_filled_route(r, output_kind=output_kind) for r in self.ordered_routes()]
        problems = check_task(
            task=assignment.task.name,
            output_kind=output_kind,
            primary=primary,
            fallbacks=fallbacks,
            timeout_seconds=assignment.timeout_seconds,
            max_retries=assignment.max_retries,
            providers=load_snapshot().providers,
        )
        # Each row's own route is checked by TaskFallback.clean(); here, the chain as a whole.
        chain_codes = {"fallback_same_as_primary", "duplicate_fallback"}
        errors = [p.text for p in problems if p.code in chain_codes]
        if errors:
            raise ValidationError(errors)


class TaskFallbackInlineForm(forms.ModelForm):
    provider = forms.ChoiceField(choices=())

    class Meta:
        model = TaskFallback
        fields = ("position", "provider", "model")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        current = self.instance.provider or None
        self.fields["provider"].choices = [("", "---------"), *_provider_choices(current)]


class TaskFallbackInline(admin.TabularInline):
    model = TaskFallback
    form = TaskFallbackInlineForm
    formset = FallbackFormSet
    extra = 1
    ordering = ("position",)
    fields = ("position", "provider", "model")
    verbose_name = "fallback"
    verbose_name_plural = "fallbacks, tried in order of position"


@admin.register(TaskAssignment)
class TaskAssignmentAdmin(admin.ModelAdmin):
    form = TaskAssignmentAdminForm
    inlines = [TaskFallbackInline]
    list_display = (
        "task",
        "output_kind",
        "provider",
        "model",
        "fallback_chain",
        "timeout_seconds",
        "max_retries",
        "source",
        "problems",
    )
    list_filter = ("source", "task__output_kind", "provider")
    search_fields = ("task__name", "provider", "model", "fallbacks__provider", "fallbacks__model")
    list_select_related = ("task",)
    readonly_fields = ("task", "source", "problems")
    fields = (
        "task",
        "provider",
        "model",
        "timeout_seconds",
        "max_retries",
        "total_timeout_seconds",
        "source",
        "problems",
        "version",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[TaskAssignment]:
        return super().get_queryset(request).prefetch_related("fallbacks")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # An assignment is created with its task (Task types → Add).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="output", ordering="task__output_kind")
    def output_kind(self, obj: TaskAssignment) -> str:
        return obj.task.get_output_kind_display()

    @admin.display(description="fallbacks")
    def fallback_chain(self, obj: TaskAssignment) -> str:
        chain = sorted(obj.fallbacks.all(), key=lambda f: f.position)
        return " → ".join(f"{f.provider}/{f.model}" for f in chain) or "—"

    @admin.display(description="problems")
    def problems(self, obj: TaskAssignment) -> str:
        snapshot = load_snapshot()
        config = snapshot.tasks.get(obj.task.name)
        if config is None:
            return "—"
        found = check_task_config(config=config, providers=snapshot.providers, environ=os.environ)
        if not found:
            return "none"
        return format_html(
            "<ul>{}</ul>",
            format_html_join("", "<li>{}: {}</li>", ((p.level, p.text) for p in found)),
        )

    def save_model(
        self, request: HttpRequest, obj: TaskAssignment, form: Any, change: bool
    ) -> None:
        # Saved as a whole with its fallbacks in save_formset, through the service.
        return

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        data = form.cleaned_data
        services.update_task_config(
            task=form.instance.task.name,
            provider=data["provider"],
            model=data["model"],
            fallbacks=formset.ordered_routes(),
            timeout_seconds=data["timeout_seconds"],
            max_retries=data["max_retries"],
            total_timeout_seconds=data.get("total_timeout_seconds") or 0,
            channel=Channel.ADMIN,
            user=request.user,
            expected_version=data.get("version"),
        )


class TaskTypeAddForm(forms.ModelForm):
    """Adding a task type also assigns its provider and model."""

    provider = forms.ChoiceField(choices=())
    model = forms.CharField(
        required=False, help_text="Blank: the provider's default model for this output kind."
    )

    class Meta:
        model = TaskType
        fields = ("name", "output_kind", "description")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = _provider_choices()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        try:
            name = services.config.validate_task_name(cleaned["name"])
        except ValidationError as exc:
            self.add_error("name", exc.message_dict["name"])
            return cleaned
        route = _filled_route(
            Route(cleaned["provider"], cleaned.get("model", "").strip()),
            output_kind=cleaned["output_kind"],
        )
        for problem in check_route(
            task=name,
            output_kind=cleaned["output_kind"],
            route=route,
            position=0,
            providers=load_snapshot().providers,
        ):
            if problem.is_error:
                self.add_error(
                    problem.field if problem.field in self.fields else None, problem.text
                )
        cleaned["name"] = name
        return cleaned


class TaskTypeChangeForm(VersionedAdminForm):
    target_type = ConfigChange.Target.TASK

    class Meta:
        model = TaskType
        fields = ("output_kind", "description")


@admin.register(TaskType)
class TaskTypeAdmin(admin.ModelAdmin):
    list_display = ("name", "output_kind", "description", "assigned_to", "builtin")
    list_filter = ("output_kind", "builtin")
    search_fields = ("name", "description")
    list_select_related = ("assignment",)

    def get_form(self, request: HttpRequest, obj: TaskType | None = None, **kwargs: Any) -> Any:
        kwargs["form"] = TaskTypeAddForm if obj is None else TaskTypeChangeForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request: HttpRequest, obj: TaskType | None = None) -> Any:
        if obj is None:
            return ("name", "output_kind", "description", "provider", "model")
        return ("name", "output_kind", "description", "builtin", "version")

    def get_readonly_fields(self, request: HttpRequest, obj: TaskType | None = None) -> Any:
        return ("name", "builtin") if obj is not None else ()

    @admin.display(description="assigned to")
    def assigned_to(self, obj: TaskType) -> str:
        try:
            assignment = obj.assignment
        except TaskAssignment.DoesNotExist:
            return "—"
        return f"{assignment.provider}/{assignment.model}"

    def has_delete_permission(self, request: HttpRequest, obj: TaskType | None = None) -> bool:
        if obj is not None and obj.builtin:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: TaskType, form: Any, change: bool) -> None:
        data = form.cleaned_data
        if change:
            services.update_task_config(
                task=obj.name,
                output_kind=data["output_kind"],
                description=data["description"],
                channel=Channel.ADMIN,
                user=request.user,
                expected_version=data.get("version"),
            )
        else:
            services.add_task(
                name=data["name"],
                output_kind=data["output_kind"],
                description=data["description"],
                provider=data["provider"],
                model=data.get("model", ""),
                channel=Channel.ADMIN,
                user=request.user,
            )
        saved = TaskType.objects.get(name=data.get("name", obj.name))
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: TaskType) -> None:
        services.delete_task(name=obj.name, channel=Channel.ADMIN, user=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[TaskType]) -> None:
        for task in queryset:
            self.delete_model(request, task)


# --- history -----------------------------------------------------------------------


class AuditTrailAdminMixin:
    """The audit trail is append-only: nobody adds or edits rows here; only superusers delete.

    Not even a group holding `change_`/`delete_` permissions gets past this (an editor must
    not be able to erase who did what). Viewing keeps the normal `view_` permission. Old
    call-log rows are removed with `manage.py ai_usage prune`, which records itself.
    """

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Without delete permission the admin also drops its bulk "delete selected" action.
        return bool(request.user.is_active and request.user.is_superuser)


@admin.register(ConfigChange)
class ConfigChangeAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = ("id", "created_at", "user", "channel", "target_type", "target_name", "summary")
    list_filter = ("channel", "target_type", "action")
    search_fields = ("target_name", "summary", "user__username")
    date_hierarchy = "created_at"
    list_select_related = ("user",)
    actions = ["revert_selected", "revert_selected_with_later"]
    readonly_fields = [f.name for f in ConfigChange._meta.fields]

    # Append-only (see AuditTrailAdminMixin); reverting records a new change instead.
    @admin.action(description="Revert the selected changes (newest first)")
    def revert_selected(self, request: HttpRequest, queryset: QuerySet[ConfigChange]) -> None:
        """Revert each one, but not one whose object was changed again later (that is said)."""
        self._revert(request, queryset, confirm_later_changes=False)

    @admin.action(description="Revert the selected changes, undoing later changes to them too")
    def revert_selected_with_later(
        self, request: HttpRequest, queryset: QuerySet[ConfigChange]
    ) -> None:
        """The explicit second step for reverts the first action refused."""
        self._revert(request, queryset, confirm_later_changes=True)

    def _revert(
        self,
        request: HttpRequest,
        queryset: QuerySet[ConfigChange],
        *,
        confirm_later_changes: bool,
    ) -> None:
        if not request.user.has_perm("aiconfig.change_taskassignment"):
            self.message_user(request, "You may not change the configuration.", messages.ERROR)
            return
        for change in queryset.order_by("-id"):
            try:
                new = services.revert_change(
                    change_id=change.pk,
                    channel=Channel.ADMIN,
                    user=request.user,
                    confirm_later_changes=confirm_later_changes,
                )
            except RevertNeedsConfirmation as exc:
                self.message_user(
                    request,
                    f"#{change.pk} not reverted: {exc.explanation} To go ahead, use "
                    "“Revert the selected changes, undoing later changes to them too”.",
                    messages.WARNING,
                )
            except ValidationError as exc:
                self.message_user(
                    request, f"#{change.pk}: {' '.join(exc.messages)}", messages.ERROR
                )
            else:
                self.message_user(request, f"Reverted #{change.pk} as #{new.pk}.", messages.SUCCESS)


# --- call log and prices -----------------------------------------------------------


@admin.register(CallLog)
class CallLogAdmin(AuditTrailAdminMixin, admin.ModelAdmin):
    list_display = (
        "created_at",
        "task",
        "provider",
        "model",
        "attempt",
        "is_fallback",
        "outcome",
        "error_kind",
        "latency_ms",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "source",
    )
    list_filter = (
        "outcome",
        "task",
        "provider",
        "source",
        "api_token",
        "is_fallback",
        "error_kind",
    )
    search_fields = ("request_id", "task", "provider", "model", "error_message", "api_token")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in CallLog._meta.fields]


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "per_image",
        "image_size",
        "image_quality",
        "updated_at",
    )
    list_filter = ("provider",)
    search_fields = ("provider", "model")
    fields = (
        "provider",
        "model",
        "input_per_million",
        "output_per_million",
        "per_image",
        "image_size",
        "image_quality",
    )

    def get_readonly_fields(self, request: HttpRequest, obj: ModelPrice | None = None) -> Any:
        # The key of a price is fixed once saved; add another row for another model.
        return ("provider", "model", "image_size", "image_quality") if obj else ()

    def save_model(self, request: HttpRequest, obj: ModelPrice, form: Any, change: bool) -> None:
        services.save_model_price(
            provider=obj.provider,
            model=obj.model,
            input_per_million=obj.input_per_million,
            output_per_million=obj.output_per_million,
            per_image=obj.per_image,
            image_size=obj.image_size,
            image_quality=obj.image_quality,
            channel=Channel.ADMIN,
            user=request.user,
        )
        saved = ModelPrice.objects.get(
            provider=obj.provider.strip().lower(),
            model=obj.model.strip(),
            image_size=obj.image_size,
            image_quality=obj.image_quality,
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: ModelPrice) -> None:
        services.delete_model_price(
            provider=obj.provider,
            model=obj.model,
            image_size=obj.image_size,
            image_quality=obj.image_quality,
            channel=Channel.ADMIN,
            user=request.user,
        )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelPrice]) -> None:
        for price in queryset:
            self.delete_model(request, price)
