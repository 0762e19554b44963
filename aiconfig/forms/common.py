"""What the dashboard's forms share: provider choices, and service errors by field."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.http import urlencode

from aiconfig.services import ConfigValidationError
from aiconfig.snapshots import ProviderInfo

# More fallbacks than this is a configuration nobody can reason about.
MAX_FALLBACKS = 6

_FALLBACK_FIELD_RE = re.compile(r"^fallbacks\.(\d+)\.(provider|model)$")


def problem_field(problem_field_name: str) -> str | None:
    """The form field for a `ConfigProblem.field`; None means the form as a whole."""
    match = _FALLBACK_FIELD_RE.match(problem_field_name)
    if match:
        return f"fb-{match.group(1)}-{match.group(2)}"
    if problem_field_name in {
        "provider",
        "model",
        "timeout_seconds",
        "max_retries",
        "total_timeout_seconds",
    }:
        return problem_field_name
    return None


def add_service_errors(form: forms.Form, exc: ValidationError) -> None:
    """Attach a service's ValidationError to the fields it names (others to the form)."""
    if isinstance(exc, ConfigValidationError):
        for problem in exc.problems:
            # A task form names its fallback fields "fb-0-model", the services "fallbacks.0.model".
            chain_form = getattr(form, "maps_chain_fields", False)
            name = problem_field(problem.field) if chain_form else problem.field
            form.add_error(name if name in form.fields else None, problem.text)
        return
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
        return
    form.add_error(None, exc.messages)


def provider_choices(
    providers: Mapping[str, ProviderInfo], *, current: Sequence[str] = (), blank: bool = False
) -> list[tuple[str, str]]:
    """Providers for a <select>: "OpenAI (openai)"; a stored unknown name stays selectable."""
    choices = [("", "Choose a provider…")] if blank else []
    for info in sorted(providers.values(), key=lambda p: p.name):
        label = f"{info.display_name} ({info.name})" if info.label else info.name
        if not info.enabled:
            label += " — disabled"
        choices.append((info.name, label))
    for name in current:
        # An env var may name a provider that does not exist: show it as it is stored,
        # so saving without touching it reports the problem instead of hiding it.
        if name and name not in providers:
            choices.insert(1 if blank else 0, (name, f"{name} (unknown provider)"))
    return choices


def model_options_url(
    *, field_name: str, list_id: str, kind: str = "", kind_field: str = ""
) -> str:
    """The URL the provider <select> fetches its model <datalist> from."""
    params = {"field": field_name, "list": list_id}
    if kind_field:
        params["kind_field"] = kind_field
    else:
        params["kind"] = kind
    return f"{reverse('model_options')}?{urlencode(params)}"


def provider_select_attrs(
    *, field_name: str, model_input_id: str, list_id: str, kind: str = "", kind_field: str = ""
) -> dict[str, str]:
    """HTMX attributes that refresh a model datalist when the provider changes."""
    return {
        "hx-get": model_options_url(
            field_name=field_name, list_id=list_id, kind=kind, kind_field=kind_field
        ),
        "hx-trigger": "change",
        "hx-target": f"#{list_id}",
        "hx-swap": "outerHTML",
        "hx-include": "this" if not kind_field else f"this, [name='{kind_field}']",
        # app.js clears the model input when the provider changes (a model name rarely
        # means anything at another provider); the server still accepts any name.
        "data-model-input": model_input_id,
    }


class ProviderChoiceField(forms.ChoiceField):
    """A provider <select> whose value the services check, not the form.

    The services know every rule about providers and say it better ("unknown
    provider 'x'. Use one of: ..."), and report it together with every other
    problem of the assignment instead of stopping at the first.
    """

    def valid_value(self, value: str) -> bool:
        """Any submitted name; `services.update_task_config` decides."""
        return True


def _number(text: str) -> str:
    """A typed number as `TaskDraft.from_config` writes it ("30.0" -> "30"), else unchanged."""
    try:
        return f"{float(text):g}"
    except ValueError:
        return text


def posted_version(data: Mapping[str, Any], *, prefix: str) -> int | None:
    """The version a posted edit form was opened at (None when missing or garbled)."""
    raw = str(data.get(f"{prefix}-version", "")).strip()
    return int(raw) if raw.isdigit() else None


def fallback_count(data: Mapping[str, Any], *, prefix: str) -> int:
    """How many fallback rows a posted form has (the highest contiguous index + 1)."""
    count = 0
    while count < MAX_FALLBACKS and f"{prefix}-fb-{count}-provider" in data:
        count += 1
    return count
