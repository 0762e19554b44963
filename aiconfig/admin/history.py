"""The audit trail in the admin: config changes (revertable) and the call log."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from aiconfig import services
from aiconfig.admin import call_filters
from aiconfig.exceptions import RevertNeedsConfirmation
from aiconfig.models import CallLog, Channel, ConfigChange


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


# --- call log ----------------------------------------------------------------------


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
    # Fixed choices only (field choices, the configuration, the token table): Django's
    # default filters and its date hierarchy each read DISTINCT values off the whole log.
    list_filter = (
        "outcome",
        call_filters.TaskFilter,
        call_filters.ProviderFilter,
        "source",
        call_filters.ApiTokenFilter,
        "is_fallback",
        call_filters.ErrorKindFilter,
    )
    search_fields = ("request_id", "task", "provider", "model", "error_message", "api_token")
    # No count of the whole table beside the filtered one, and a count that stops.
    show_full_result_count = False
    paginator = call_filters.CappedCountPaginator
    readonly_fields = [f.name for f in CallLog._meta.fields]
