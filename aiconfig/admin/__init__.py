"""Django admin for the AI configuration.

Every save goes through `aiconfig.services`, so admin edits are validated by the
same rules as the dashboard and CLI, recorded in the change history, and seen by
every process on its next call. No API key value is ever shown: only the name of
the env var that holds it, whether it is set, and at most its last four characters.

One module per job; importing them here registers every model admin (Django's
autodiscover imports `aiconfig.admin`) and keeps `from aiconfig.admin import X` working.
"""

from __future__ import annotations

from aiconfig.admin.common import VersionedAdminForm, add_problems
from aiconfig.admin.history import AuditTrailAdminMixin, CallLogAdmin, ConfigChangeAdmin
from aiconfig.admin.prices import ModelPriceAdmin, ModelPriceAdminForm
from aiconfig.admin.providers import (
    ProviderAdmin,
    ProviderAdminForm,
    ProviderModelInline,
    ProviderModelInlineForm,
)
from aiconfig.admin.tasks import (
    FallbackFormSet,
    TaskAssignmentAdmin,
    TaskAssignmentAdminForm,
    TaskFallbackInline,
    TaskFallbackInlineForm,
    TaskTypeAddForm,
    TaskTypeAdmin,
    TaskTypeChangeForm,
)

__all__ = [
    "AuditTrailAdminMixin",
    "CallLogAdmin",
    "ConfigChangeAdmin",
    "FallbackFormSet",
    "ModelPriceAdmin",
    "ModelPriceAdminForm",
    "ProviderAdmin",
    "ProviderAdminForm",
    "ProviderModelInline",
    "ProviderModelInlineForm",
    "TaskAssignmentAdmin",
    "TaskAssignmentAdminForm",
    "TaskFallbackInline",
    "TaskFallbackInlineForm",
    "TaskTypeAddForm",
    "TaskTypeAdmin",
    "TaskTypeChangeForm",
    "VersionedAdminForm",
    "add_problems",
]
