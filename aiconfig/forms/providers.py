"""The Providers page's forms: adding and editing a provider, adding a model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from aiconfig.services.config import ENV_VAR_RE
from aiconfig.snapshots import ProviderInfo
from aiconfig.validation import (
    MAX_BASE_URL,
    MAX_KEY_VARIABLE,
    MAX_LABEL,
    MAX_MODEL_NAME,
    MAX_PROVIDER_NAME,
    is_valid_base_url,
)


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
