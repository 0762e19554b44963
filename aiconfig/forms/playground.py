"""The playground's inputs form: prompt, system prompt, settings, schema, tools, images.

It parses and re-displays input; the services decide what a run is. The example tools
and the slide schema are offered for the tasks that need them.
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from django import forms
from django.core.exceptions import ValidationError

from aiconfig.services import calls
from aiconfig.services.playground import Column, Inputs
from aiconfig.services.playground_inputs import IMAGE_QUALITIES, IMAGE_SIZES, MAX_IMAGES


class InputsForm(forms.Form):
    """The inputs every column gets."""

    # Set by the view for "Continue" and "Run again" on a conversation: earlier turns.
    turns: tuple[dict[str, Any], ...] = ()

    prompt = forms.CharField(
        label="Prompt",
        max_length=20_000,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": "Type a prompt to run."},
    )
    system = forms.CharField(
        label="System prompt",
        max_length=20_000,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    temperature = forms.FloatField(
        label="Temperature", required=False, min_value=0, max_value=2,
        widget=forms.NumberInput(attrs={"step": "0.1"}),
    )  # fmt: skip
    max_tokens = forms.IntegerField(
        label="Max tokens", required=False, min_value=1, max_value=100_000
    )
    json_schema = forms.CharField(
        label="JSON schema",
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text="Optional: every column must answer JSON valid against it.",
    )
    tools = forms.CharField(
        label="Tools (JSON)",
        max_length=20_000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='Optional: [{"name": …, "description": …, "parameters": {JSON schema}}]; '
        "every column gets one chat turn and shows the tool calls it returns.",
    )

    image_size = forms.ChoiceField(
        label="Image size",
        required=False,
        choices=[("", "The model's default")] + [(size, size) for size in IMAGE_SIZES],
    )
    image_quality = forms.ChoiceField(
        label="Image quality",
        required=False,
        choices=[("", "The model's default")] + [(q, q) for q in IMAGE_QUALITIES],
    )
    image_count = forms.IntegerField(
        label="Images",
        required=False,
        min_value=1,
        max_value=MAX_IMAGES,
        help_text=f"How many images each image column asks for (1 to {MAX_IMAGES}).",
    )
    follow_up = forms.CharField(
        label="Follow-up message",
        max_length=20_000,
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Continues the conversation in every column: each column gets the earlier "
        "messages and its own answers.",
    )

    def clean_json_schema(self) -> dict[str, Any] | None:
        """A JSON object that is itself a valid JSON schema, or nothing."""
        text = self.cleaned_data["json_schema"].strip()
        if not text:
            return None
        value = _json(text, "The JSON schema")
        if not isinstance(value, dict):
            raise ValidationError('The JSON schema must be a JSON object, e.g. {"type": …}.')
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValidationError(f"Not a valid JSON schema: {exc.message[:200]}") from None
        return value

    def clean_tools(self) -> list[dict[str, Any]] | None:
        """A JSON list of tool definitions, each with a name, or nothing."""
        text = self.cleaned_data["tools"].strip()
        if not text:
            return None
        value = _json(text, "Tools")
        if not isinstance(value, list) or not value:
            raise ValidationError("Tools must be a JSON list of tool definitions.")
        for number, tool in enumerate(value, start=1):
            if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
                raise ValidationError(f'Tool {number} needs a "name".')
            if not isinstance(tool.get("parameters", {}), dict):
                raise ValidationError(f'Tool {number}: "parameters" must be a JSON schema.')
        return value

    def inputs(self) -> Inputs:
        """The cleaned inputs, after the earlier `turns` of a conversation (if any)."""
        data = self.cleaned_data
        return Inputs(
            data["prompt"],
            data["system"],
            data["temperature"],
            data["max_tokens"],
            data["json_schema"],
            data["tools"],
            data["image_size"],
            data["image_quality"],
            data["image_count"],
            self.turns,
        )


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{what} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})."
        ) from None


# What the page offers for a task that needs them (the agent's tools are the app's own
# business: this is an example to start from).
EXAMPLE_TOOLS = [
    {
        "name": "get_weather",
        "description": "The current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    }
]


def prefill(columns: list[Column], initial: dict[str, Any]) -> None:
    """The slide schema for a `video-slides` column, example tools for an `agent` one."""
    tasks = {column.task for column in columns}
    if "video-slides" in tasks and not initial.get("json_schema"):
        initial["json_schema"] = json.dumps(calls.SLIDES_SCHEMA, indent=2)
    if "agent" in tasks and not initial.get("tools"):
        initial["tools"] = json.dumps(EXAMPLE_TOOLS, indent=2)
