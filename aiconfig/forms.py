"""Dashboard forms: they parse and re-display input; the services decide what is valid.

Rules live in `aiconfig.validation` and are enforced by `aiconfig.services`; these
forms only check types, and put each problem the services report next to the
field it belongs to (`ConfigProblem.field` -> form field name).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.http import urlencode

from aiconfig.models import OutputKind
from aiconfig.services import ConfigValidationError
from aiconfig.services.config import ENV_VAR_RE
from aiconfig.snapshots import ModelInfo, ProviderInfo, TaskConfig
from aiconfig.validation import (
    MAX_BASE_URL,
    MAX_DESCRIPTION,
    MAX_KEY_VARIABLE,
    MAX_LABEL,
    MAX_MODEL_NAME,
    MAX_PROVIDER_NAME,
    MAX_RETRIES,
    MAX_TASK_NAME,
    MAX_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
    ConfigProblem,
    is_valid_base_url,
)

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
            name = problem_field(problem.field) if isinstance(form, TaskEditForm) else problem.field
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


# --- task assignment --------------------------------------------------------------


class ProviderChoiceField(forms.ChoiceField):
    """A provider <select> whose value the services check, not the form.

    The services know every rule about providers and say it better ("unknown
    provider 'x'. Use one of: ..."), and report it together with every other
    problem of the assignment instead of stopping at the first.
    """

    def valid_value(self, value: str) -> bool:
        """Any submitted name; `services.update_task_config` decides."""
        return True


@dataclass(frozen=True, slots=True)
class TaskDraft:
    """An assignment being edited, as text, before anything is validated or saved."""

    provider: str
    model: str
    fallbacks: tuple[tuple[str, str], ...]
    timeout_seconds: str
    max_retries: str
    total_timeout_seconds: str = ""

    @classmethod
    def from_config(cls, config: TaskConfig) -> TaskDraft:
        """The stored assignment."""
        return cls(
            provider=config.provider,
            model=config.model,
            fallbacks=tuple((f.provider, f.model) for f in config.fallbacks),
            timeout_seconds=f"{config.timeout_seconds:g}",
            max_retries=str(config.max_retries),
            total_timeout_seconds=(
                f"{config.total_timeout_seconds:g}" if config.total_timeout_seconds else ""
            ),
        )

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> TaskDraft:
        """A task as recorded in a `ConfigChange` snapshot (`services.history.task_state`)."""
        return cls(
            provider=str(state.get("provider", "")),
            model=str(state.get("model", "")),
            fallbacks=tuple(
                (str(f.get("provider", "")), str(f.get("model", "")))
                for f in state.get("fallbacks") or []
            ),
            timeout_seconds=f"{float(state.get('timeout_seconds') or 0):g}",
            max_retries=str(state.get("max_retries", 0)),
        )

    def rebase(self, *, base: TaskDraft, current: TaskDraft) -> TaskDraft:
        """This edit moved onto `current`: what the person changed from `base` wins.

        Parts left as they were when the form opened take the newer stored value, so
        saving again keeps both people's changes. The primary route and the fallback
        chain each count as one part (a model means little without its provider).
        """

        def pick(mine: Any, opened: Any, newer: Any) -> Any:
            return newer if mine == opened else mine

        primary = pick(
            (self.provider, self.model),
            (base.provider, base.model),
            (current.provider, current.model),
        )
        return TaskDraft(
            provider=primary[0],
            model=primary[1],
            fallbacks=pick(self.fallbacks, base.fallbacks, current.fallbacks),
            timeout_seconds=pick(
                _number(self.timeout_seconds), base.timeout_seconds, current.timeout_seconds
            ),
            max_retries=pick(self.max_retries, base.max_retries, current.max_retries),
        )

    def to_data(self, *, prefix: str, version: int) -> dict[str, str]:
        """The POST body a task form showing this draft would send."""
        data = {f"{prefix}-{name}": value for name, value in self.initial().items()}
        data[f"{prefix}-version"] = str(version)
        return data

    @classmethod
    def from_data(cls, data: Mapping[str, Any], *, prefix: str) -> TaskDraft:
        """What a posted task form holds (rows in index order, at most MAX_FALLBACKS)."""

        def get(name: str) -> str:
            return str(data.get(f"{prefix}-{name}", "")).strip()

        return cls(
            provider=get("provider"),
            model=get("model"),
            fallbacks=tuple(
                (get(f"fb-{i}-provider"), get(f"fb-{i}-model"))
                for i in range(fallback_count(data, prefix=prefix))
            ),
            timeout_seconds=get("timeout_seconds"),
            max_retries=get("max_retries"),
            total_timeout_seconds=get("total_timeout_seconds"),
        )

    def apply(self, action: str) -> TaskDraft:
        """Apply a row button: "add_fallback", "remove:N", "up:N" or "down:N" (N is 0-based)."""
        rows = list(self.fallbacks)
        verb, _, number = action.partition(":")
        if verb == "add_fallback":
            if len(rows) < MAX_FALLBACKS:
                rows.append(("", ""))
            return replace(self, fallbacks=tuple(rows))
        try:
            index = int(number)
        except ValueError:
            return self
        if not 0 <= index < len(rows):
            return self
        if verb == "remove":
            del rows[index]
        elif verb == "up" and index > 0:
            rows[index - 1], rows[index] = rows[index], rows[index - 1]
        elif verb == "down" and index < len(rows) - 1:
            rows[index + 1], rows[index] = rows[index], rows[index + 1]
        return replace(self, fallbacks=tuple(rows))

    def initial(self) -> dict[str, str]:
        """Initial values for an unbound `TaskEditForm` showing this draft."""
        values = {
            "provider": self.provider,
            "model": self.model,
            "timeout_seconds": self.timeout_seconds,
            "max_retries": self.max_retries,
            "total_timeout_seconds": self.total_timeout_seconds,
        }
        for i, (provider, model) in enumerate(self.fallbacks):
            values[f"fb-{i}-provider"] = provider
            values[f"fb-{i}-model"] = model
        return values


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


@dataclass(frozen=True, slots=True)
class RouteFields:
    """The inputs of one chain step, with the model suggestions for its provider."""

    index: int | None  # None for the primary, else the fallback's 0-based index
    provider: forms.BoundField
    model: forms.BoundField
    list_id: str
    options: tuple[ModelInfo, ...]
    default_model: str
    is_first: bool = False
    is_last: bool = False
    errors: tuple[str, ...] = field(default=())

    @property
    def number(self) -> int:
        """1-based fallback number (0 for the primary)."""
        return 0 if self.index is None else self.index + 1


class TaskEditForm(forms.Form):
    """A task's primary, ordered fallbacks, timeout and retries.

    Field names are prefixed by the task name, so every card on the page has unique
    ids (`id_text-provider`, `id_text-fb-0-model`, ...).
    """

    provider = ProviderChoiceField(label="Provider")
    model = forms.CharField(label="Model", required=False, max_length=MAX_MODEL_NAME)
    timeout_seconds = forms.FloatField(
        label="Timeout (seconds)",
        widget=forms.NumberInput(
            attrs={"step": "any", "min": MIN_TIMEOUT_SECONDS, "max": MAX_TIMEOUT_SECONDS}
        ),
    )
    max_retries = forms.IntegerField(
        label="Retries per provider",
        widget=forms.NumberInput(attrs={"min": "0", "max": MAX_RETRIES}),
    )
    # The task's version when the form was opened: a save from an older one is refused.
    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    # Set when a save was refused because someone else changed the task meanwhile.
    stale: Any = None
    total_timeout_seconds = forms.FloatField(
        label="Total time limit (seconds)",
        required=False,
        help_text="For the whole call, fallbacks included. Blank: no limit.",
        widget=forms.NumberInput(attrs={"step": "any", "min": "1"}),
    )

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        config: TaskConfig,
        providers: Mapping[str, ProviderInfo],
        draft: TaskDraft | None = None,
        version: int | None = None,
    ) -> None:
        self.config = config
        self.providers = providers
        prefix = config.task
        if data is None:
            draft = draft or TaskDraft.from_config(config)
            count = len(draft.fallbacks)
            super().__init__(initial={**draft.initial(), "version": version}, prefix=prefix)
        else:
            count = fallback_count(data, prefix=prefix)
            super().__init__(data, prefix=prefix)
            # Re-shown after an error, a posted name must still be the selected option.
            draft = TaskDraft.from_data(data, prefix=prefix)
        self.fallback_total = count
        stored = [config.provider, *(f.provider for f in config.fallbacks)]
        if draft is not None:
            stored += [draft.provider, *(p for p, _ in draft.fallbacks)]
        self.fields["provider"].choices = provider_choices(providers, current=stored)
        for i in range(count):
            self.fields[f"fb-{i}-provider"] = ProviderChoiceField(
                label=f"Fallback {i + 1} provider",
                choices=provider_choices(providers, current=stored, blank=True),
                error_messages={"required": "Choose a provider, or remove this fallback."},
            )
            self.fields[f"fb-{i}-model"] = forms.CharField(
                label=f"Fallback {i + 1} model", required=False, max_length=MAX_MODEL_NAME
            )
        for name in ["", *(f"fb-{i}-" for i in range(count))]:
            self._wire_route(name)

    def _wire_route(self, name: str) -> None:
        provider_name = self.add_prefix(f"{name}provider")
        model_id = f"id_{self.add_prefix(f'{name}model')}"
        list_id = f"{model_id}-options"
        self.fields[f"{name}provider"].widget.attrs.update(
            provider_select_attrs(
                field_name=provider_name,
                model_input_id=model_id,
                list_id=list_id,
                kind=self.config.output_kind,
            )
        )
        self.fields[f"{name}model"].widget.attrs.update(
            {"list": list_id, "autocomplete": "off", "spellcheck": "false"}
        )

    def _route(self, index: int | None) -> RouteFields:
        name = "" if index is None else f"fb-{index}-"
        provider_bf = self[f"{name}provider"]
        model_bf = self[f"{name}model"]
        info = self.providers.get(str(provider_bf.value() or ""))
        kind = self.config.output_kind
        default = info.default_model_for(kind) if info else ""
        model_bf.field.widget.attrs["placeholder"] = (
            f"Default: {default}" if default else "Type a model name"
        )
        return RouteFields(
            index=index,
            provider=provider_bf,
            model=model_bf,
            list_id=f"{model_bf.auto_id}-options",
            options=tuple(info.models_for(kind)) if info else (),
            default_model=default,
            is_first=index == 0,
            is_last=index is not None and index == self.fallback_total - 1,
        )

    @property
    def primary_route(self) -> RouteFields:
        """The primary's inputs."""
        return self._route(None)

    @property
    def fallback_routes(self) -> list[RouteFields]:
        """Each fallback row's inputs, in order."""
        return [self._route(i) for i in range(self.fallback_total)]

    @property
    def can_add_fallback(self) -> bool:
        """False once the chain is as long as allowed."""
        return self.fallback_total < MAX_FALLBACKS

    def service_kwargs(self) -> dict[str, Any]:
        """Arguments for `services.update_task_config` (call after `is_valid()`)."""
        data = self.cleaned_data
        return {
            "provider": data["provider"],
            "model": data["model"].strip(),
            "fallbacks": [
                (data[f"fb-{i}-provider"], data[f"fb-{i}-model"].strip())
                for i in range(self.fallback_total)
            ],
            "timeout_seconds": data["timeout_seconds"],
            "max_retries": data["max_retries"],
            "expected_version": data.get("version"),
            # 0 tells the service to remove the limit.
            "total_timeout_seconds": data.get("total_timeout_seconds") or 0,
        }

    def add_problems(self, problems: Sequence[ConfigProblem]) -> None:
        """Show each problem the services found next to its field."""
        for problem in problems:
            name = problem_field(problem.field)
            self.add_error(name if name in self.fields else None, problem.text)


class AddTaskForm(forms.Form):
    """A custom task type with its first assignment."""

    name = forms.CharField(
        label="Name",
        max_length=MAX_TASK_NAME,
        help_text="Lowercase letters, digits and hyphens, e.g. summaries.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    output_kind = forms.ChoiceField(label="Output", choices=OutputKind.choices)
    provider = forms.ChoiceField(label="Provider")
    model = forms.CharField(label="Model", required=False, max_length=MAX_MODEL_NAME)
    description = forms.CharField(label="Description", required=False, max_length=MAX_DESCRIPTION)

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        providers: Mapping[str, ProviderInfo],
    ) -> None:
        super().__init__(data, prefix="new-task")
        self.providers = providers
        self.fields["provider"].choices = provider_choices(providers)
        model_id = f"id_{self.add_prefix('model')}"
        list_id = f"{model_id}-options"
        kind_field = self.add_prefix("output_kind")
        attrs = provider_select_attrs(
            field_name=self.add_prefix("provider"),
            model_input_id=model_id,
            list_id=list_id,
            kind_field=kind_field,
        )
        self.fields["provider"].widget.attrs.update(attrs)
        # Changing the output kind changes which models fit, so it refreshes the list too.
        kind_attrs = {**attrs, "hx-include": f"this, [name='{self.add_prefix('provider')}']"}
        kind_attrs.pop("data-model-input")
        self.fields["output_kind"].widget.attrs.update(kind_attrs)
        self.fields["model"].widget.attrs.update(
            {
                "list": list_id,
                "autocomplete": "off",
                "spellcheck": "false",
                "placeholder": "Blank: the provider's default",
            }
        )

    @property
    def list_id(self) -> str:
        """The model datalist's id."""
        return f"id_{self.add_prefix('model')}-options"

    @property
    def model_options(self) -> tuple[ModelInfo, ...]:
        """Suggestions for the chosen provider and output kind."""
        info = self.providers.get(str(self["provider"].value() or ""))
        kind = str(self["output_kind"].value() or OutputKind.TEXT)
        return tuple(info.models_for(kind)) if info and kind in OutputKind.values else ()


class TryForm(forms.Form):
    """A short prompt for "Try it"."""

    prompt = forms.CharField(
        label="Prompt",
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        error_messages={"required": "Type a prompt to try."},
    )

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, task: str, placeholder: str = ""
    ) -> None:
        super().__init__(data, prefix=f"try-{task}")
        if placeholder:
            self.fields["prompt"].widget.attrs["placeholder"] = placeholder


# --- providers ---------------------------------------------------------------------


def _clean_env_var(value: str) -> str:
    value = value.strip()
    if value and not ENV_VAR_RE.match(value):
        # Never echo the value: someone may have pasted the key itself.
        raise ValidationError(
            "Enter the name of the environment variable that holds the key "
            "(e.g. MYPROVIDER_API_KEY), never the key itself."
        )
    return value


def _clean_url(value: str, *, required: bool) -> str:
    value = value.strip()
    if not value:
        if required:
            raise ValidationError("Enter the base URL, e.g. https://llm.example.com/v1.")
        return value
    if not is_valid_base_url(value):
        raise ValidationError("Enter an absolute http(s) URL, e.g. https://llm.example.com/v1.")
    return value


class _KeyVarMixin(forms.Form):
    """Forms with an `api_key_env` field: an invalid value is never shown back."""

    key_var_rejected = False

    def _blank_invalid_key_var(self) -> None:
        # A value that is not a variable name may be a pasted key: re-render the
        # form with the field emptied so the page never contains it.
        name = self.add_prefix("api_key_env")
        value = str(self.data.get(name, "")).strip()
        if value and not ENV_VAR_RE.match(value):
            self.data = self.data.copy()
            self.data[name] = ""
            self.key_var_rejected = True

    def clean_api_key_env(self) -> str:
        """A variable name; see `_blank_invalid_key_var`."""
        if self.key_var_rejected:
            raise ValidationError(
                "That is not an environment variable name. Enter the name of the variable "
                "that holds the key (e.g. MYPROVIDER_API_KEY), never the key itself."
            )
        return _clean_env_var(self.cleaned_data.get("api_key_env", ""))


class AddProviderForm(_KeyVarMixin):
    """A custom OpenAI-compatible endpoint (vLLM, LM Studio, a gateway, ...)."""

    name = forms.CharField(
        label="Name",
        max_length=MAX_PROVIDER_NAME,
        help_text="Lowercase id used in tasks and env vars, e.g. my-vllm.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    label = forms.CharField(label="Label", required=False, max_length=MAX_LABEL)
    base_url = forms.CharField(
        label="Base URL",
        max_length=MAX_BASE_URL,
        widget=forms.URLInput(attrs={"placeholder": "https://llm.example.com/v1"}),
    )
    api_key_env = forms.CharField(
        label="API key env var",
        required=False,
        max_length=MAX_KEY_VARIABLE,
        help_text="The variable's name, never the key. Set the key in the server's environment.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "placeholder": "MY_LLM_API_KEY"}
        ),
    )
    key_required = forms.BooleanField(label="Key required", required=False, initial=True)
    self_hosted = forms.BooleanField(
        label="Self-hosted (calls cost $0)", required=False, initial=False
    )
    default_text_model = forms.CharField(
        label="Default text model", required=False, max_length=MAX_MODEL_NAME
    )

    def __init__(
        self, data: Mapping[str, Any] | None = None, *, can_manage_endpoints: bool = True
    ) -> None:
        super().__init__(data, prefix="new-provider")
        # Without manage_endpoints only a keyless provider (a local Ollama) may be added:
        # a key variable would decide which secret goes to the URL typed here.
        self.keyless_only = not can_manage_endpoints
        if self.keyless_only:
            del self.fields["api_key_env"]
            del self.fields["key_required"]
        elif data is not None:
            self._blank_invalid_key_var()

    def clean_base_url(self) -> str:
        """An absolute http(s) URL."""
        return _clean_url(self.cleaned_data["base_url"], required=True)

    def provider_kwargs(self) -> dict[str, Any]:
        """The key settings for `services.add_provider` (none for a keyless provider)."""
        if self.keyless_only:
            return {"api_key_env": "", "key_required": False}
        return {
            "api_key_env": self.cleaned_data["api_key_env"],
            "key_required": self.cleaned_data["key_required"],
        }


class ProviderEditForm(_KeyVarMixin):
    """A provider's connection settings and default models."""

    label = forms.CharField(label="Label", required=False, max_length=MAX_LABEL)
    base_url = forms.CharField(label="Base URL", required=False, max_length=MAX_BASE_URL)
    api_key_env = forms.CharField(
        label="API key env var",
        required=False,
        max_length=MAX_KEY_VARIABLE,
        help_text="The variable's name, never the key.",
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    key_required = forms.BooleanField(label="Key required", required=False)
    default_text_model = forms.CharField(
        label="Default text model", required=False, max_length=MAX_MODEL_NAME
    )
    default_image_model = forms.CharField(
        label="Default image model", required=False, max_length=MAX_MODEL_NAME
    )
    # The provider's version when the form was opened: a save from an older one is refused.
    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    # Set when a save was refused because someone else changed the provider meanwhile.
    stale: Any = None

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        provider: ProviderInfo,
        version: int | None = None,
        can_manage_endpoints: bool = True,
    ) -> None:
        initial = {
            "version": version,
            "label": provider.label,
            "base_url": provider.base_url,
            "api_key_env": provider.api_key_env,
            "key_required": provider.key_required,
            "default_text_model": provider.default_text_model,
            "default_image_model": provider.default_image_model,
        }
        super().__init__(data, initial=initial, prefix=f"edit-{provider.name}")
        self.provider = provider
        # The base URL and key variable decide where the key is sent: only endpoint
        # admins get those fields (the service refuses the change to anyone else).
        self.endpoint_locked = not can_manage_endpoints
        if self.endpoint_locked:
            del self.fields["base_url"]
            del self.fields["api_key_env"]
        else:
            if data is not None:
                self._blank_invalid_key_var()
            self.fields["base_url"].widget.attrs["placeholder"] = (
                provider.effective_base_url or "https://llm.example.com/v1"
            )
            self.fields["base_url"].help_text = (
                "Blank: the SDK's public endpoint." if provider.kind != "openai_compatible" else ""
            )
        models = sorted(provider.models)
        list_id = f"id_{self.add_prefix('models')}"
        for name in ("default_text_model", "default_image_model"):
            self.fields[name].widget.attrs.update({"list": list_id, "autocomplete": "off"})
        self.model_names = models

    @property
    def list_id(self) -> str:
        """The datalist of this provider's models."""
        return f"id_{self.add_prefix('models')}"

    def clean_base_url(self) -> str:
        """Blank (SDK default, not for OpenAI-compatible kinds) or an absolute http(s) URL."""
        return _clean_url(
            self.cleaned_data["base_url"], required=self.provider.kind == "openai_compatible"
        )

    def changes(self) -> dict[str, Any]:
        """Only the fields whose value differs from the stored one."""
        return {name: self.cleaned_data[name] for name in self.changed_data if name != "version"}

    def rebased_data(
        self, *, base: Mapping[str, Any] | None, current: ProviderInfo, version: int
    ) -> dict[str, Any]:
        """This edit moved onto the `current` provider (call after `is_valid()`).

        A field the person left as it was when the form opened (`base`, the recorded
        state at their version) takes the newer stored value; what they changed stays.
        """
        data: dict[str, Any] = {self.add_prefix("version"): str(version)}
        for name, form_field in self.fields.items():
            if name == "version" or name not in self.cleaned_data:
                continue
            mine = self.cleaned_data[name]
            value = getattr(current, name) if base is not None and base.get(name) == mine else mine
            if isinstance(form_field, forms.BooleanField):
                if value:
                    data[self.add_prefix(name)] = "on"
            else:
                data[self.add_prefix(name)] = value
        return data


class AddModelForm(forms.Form):
    """A model to list under a provider, with what it can do."""

    name = forms.CharField(
        label="Model name",
        max_length=MAX_MODEL_NAME,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    supports_text = forms.BooleanField(label="Text", required=False, initial=True)
    supports_image = forms.BooleanField(label="Image", required=False)
    supports_structured = forms.BooleanField(label="Structured JSON", required=False)
    supports_tools = forms.BooleanField(label="Tool calls", required=False)
    notes = forms.CharField(label="Notes", required=False, max_length=200)

    def __init__(self, data: Mapping[str, Any] | None = None, *, provider: str) -> None:
        super().__init__(data, prefix=f"model-{provider}")
