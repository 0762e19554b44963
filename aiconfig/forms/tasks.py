"""The Tasks page's forms: editing a chain, adding a task, "Try it"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django import forms

from aiconfig.forms.common import (
    MAX_FALLBACKS,
    ProviderChoiceField,
    _number,
    fallback_count,
    problem_field,
    provider_choices,
    provider_select_attrs,
)
from aiconfig.known_models import picker_models
from aiconfig.models import OutputKind
from aiconfig.snapshots import ModelInfo, ProviderInfo, TaskConfig
from aiconfig.validation import (
    MAX_DESCRIPTION,
    MAX_MODEL_NAME,
    MAX_RETRIES,
    MAX_TASK_NAME,
    MAX_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
    ConfigProblem,
)


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

    # Service problems name chain steps "fallbacks.0.model": see `add_service_errors`.
    maps_chain_fields = True

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
            options=picker_models(info, kind) if info else (),
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
        return picker_models(info, kind) if info and kind in OutputKind.values else ()


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
