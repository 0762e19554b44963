"""Dashboard forms: they parse and re-display input; the services decide what is valid.

Rules live in `aiconfig.validation` and are enforced by `aiconfig.services`; these
forms only check types, and put each problem the services report next to the field it
belongs to (`ConfigProblem.field` -> form field name). One module per page; the names
are re-exported here so `from aiconfig.forms import TaskEditForm` keeps working.
"""

from __future__ import annotations

from aiconfig.forms.common import (
    MAX_FALLBACKS,
    ProviderChoiceField,
    add_service_errors,
    fallback_count,
    model_options_url,
    posted_version,
    problem_field,
    provider_choices,
    provider_select_attrs,
)
from aiconfig.forms.providers import AddModelForm, AddProviderForm, ProviderEditForm
from aiconfig.forms.tasks import AddTaskForm, RouteFields, TaskDraft, TaskEditForm, TryForm

__all__ = [
    "MAX_FALLBACKS",
    "AddModelForm",
    "AddProviderForm",
    "AddTaskForm",
    "ProviderChoiceField",
    "ProviderEditForm",
    "RouteFields",
    "TaskDraft",
    "TaskEditForm",
    "TryForm",
    "add_service_errors",
    "fallback_count",
    "model_options_url",
    "posted_version",
    "problem_field",
    "provider_choices",
    "provider_select_attrs",
]
