"""Tasks in the admin: the assignment with its fallback chain, and task types."""

from __future__ import annotations

import os
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from aiconfig import services
from aiconfig.admin.common import VersionedAdminForm, _filled_route, _provider_choices, add_problems
from aiconfig.models import Channel, ConfigChange, TaskAssignment, TaskFallback, TaskType
from aiconfig.selectors import config_snapshot
from aiconfig.services.config import to_route
from aiconfig.snapshots import ConfigSnapshot, Route
from aiconfig.validation import (
    ConfigProblem,
    check_route,
    check_task,
    check_task_config,
    route_problems,
)


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

    def clean(self) -> dict[str, Any]:
        """The primary route, timeout and retries, against the cached configuration."""
        cleaned = super().clean() or {}
        task = self.instance.task
        if "provider" in cleaned and "timeout_seconds" in cleaned:
            add_problems(
                self,
                route_problems(
                    task=task.name,
                    output_kind=task.output_kind,
                    provider=cleaned["provider"],
                    model=cleaned.get("model") or "",
                    position=0,
                    providers=config_snapshot().providers,
                    timeout_seconds=cleaned["timeout_seconds"],
                    max_retries=cleaned.get("max_retries"),
                    total_timeout_seconds=cleaned.get("total_timeout_seconds"),
                ),
            )
        return cleaned


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
            providers=config_snapshot().providers,
        )
        # Each row's own route is checked by its form; here, the chain as a whole.
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

    def clean(self) -> dict[str, Any]:
        """This fallback's route, against the cached configuration."""
        cleaned = super().clean() or {}
        if cleaned.get("provider") and not cleaned.get("DELETE"):
            task = self.instance.assignment.task
            add_problems(
                self,
                route_problems(
                    task=task.name,
                    output_kind=task.output_kind,
                    provider=cleaned["provider"],
                    model=cleaned.get("model") or "",
                    position=(cleaned.get("position") or 0) + 1,
                    providers=config_snapshot().providers,
                ),
            )
        return cleaned


class TaskFallbackInline(admin.TabularInline):
    model = TaskFallback
    form = TaskFallbackInlineForm
    formset = FallbackFormSet
    extra = 1
    ordering = ("position",)
    fields = ("position", "provider", "model")
    verbose_name = "fallback"
    verbose_name_plural = "fallbacks, tried in order of position"


def _task_problems(snapshot: ConfigSnapshot, task: str) -> list[ConfigProblem] | None:
    """The task's problems in `snapshot`; None when the task is not in it."""
    config = snapshot.tasks.get(task)
    if config is None:
        return None
    return check_task_config(config=config, providers=snapshot.providers, environ=os.environ)


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

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        """Judge the listed tasks once, against one cached snapshot, not one load per row."""
        changelist = super().get_changelist_instance(request)
        snapshot = config_snapshot()
        for obj in changelist.result_list:
            obj._problems = _task_problems(snapshot, obj.task.name)
        return changelist

    @admin.display(description="problems")
    def problems(self, obj: TaskAssignment) -> str:
        if hasattr(obj, "_problems"):  # set for the whole changelist at once
            found = obj._problems
        else:  # the change form: one object
            found = _task_problems(config_snapshot(), obj.task.name)
        if found is None:
            return "—"
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
            providers=config_snapshot().providers,
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
