"""The playground page: one prompt on up to four columns, streamed side by side, runs saved.

The page's state lives in its URL (`?task=text&model=openai/gpt-4o-mini&prompt=…`), so
a comparison can be linked. Running needs `aiconfig.run_task`. With JavaScript
(static/js/playground.js) "Run" posts to `playground_stream`, which answers with
Server-Sent Events as the columns' text arrives; closing that connection (Stop)
cancels every column. Without JavaScript the same form posts to the page, which runs
every column to its end and redirects to the saved run.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlencode

import jsonschema
from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from aiconfig import selectors
from aiconfig.exceptions import AIConfigError
from aiconfig.models import PlaygroundRun
from aiconfig.presenters import playground as present
from aiconfig.services import calls, playground
from aiconfig.services.playground import MAX_COLUMNS, Column, Inputs
from aiconfig.views.common import INVALID, abilities, flash, post_with_permission

TEMPLATE = "aiconfig/playground.html"
RUN_PERMISSION = "aiconfig.run_task"
PROMOTE_PERMISSION = "aiconfig.change_taskassignment"
DEFAULT_COLUMNS = (Column(task="text"),)


class InputsForm(forms.Form):
    """The inputs every column gets."""

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
        """The cleaned inputs."""
        data = self.cleaned_data
        return Inputs(
            data["prompt"],
            data["system"],
            data["temperature"],
            data["max_tokens"],
            data["json_schema"],
            data["tools"],
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


def _prefill(columns: list[Column], initial: dict[str, Any]) -> None:
    """The slide schema for a `video-slides` column, example tools for an `agent` one."""
    tasks = {column.task for column in columns}
    if "video-slides" in tasks and not initial.get("json_schema"):
        initial["json_schema"] = json.dumps(calls.SLIDES_SCHEMA, indent=2)
    if "agent" in tasks and not initial.get("tools"):
        initial["tools"] = json.dumps(EXAMPLE_TOOLS, indent=2)


def _column(task: str, model: str) -> Column:
    if task:
        return Column(task=task.strip())
    provider, _, name = model.strip().partition("/")
    return Column(provider=provider.strip(), model=name.strip())


def _url_columns(query: str) -> list[Column]:
    """Columns from `?task=…&model=…` in the order given (each parameter one column)."""
    columns = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key == "task" and value:
            columns.append(_column(value, ""))
        elif key == "model":
            columns.append(_column("", value))
    return columns[:MAX_COLUMNS]


def _form_columns(data: Any) -> list[Column]:
    """Columns from the form: each column posts `col_task` and `col_model`, in order."""
    tasks, models = data.getlist("col_task"), data.getlist("col_model")
    return [_column(t, m) for t, m in zip(tasks, models, strict=False)][:MAX_COLUMNS]


def _column_problems(columns: list[Column], task_names: set[str]) -> dict[int, str]:
    problems = {}
    for index, column in enumerate(columns):
        if column.is_task:
            if column.task not in task_names:
                problems[index] = f"There is no task '{column.task}'."
        elif not column.provider or not column.model:
            problems[index] = "Choose a model as provider/model, e.g. openai/gpt-4o-mini."
    return problems


def _page(
    request: HttpRequest,
    *,
    form: InputsForm,
    columns: list[Column],
    run: PlaygroundRun | None = None,
    problems: dict[int, str] | None = None,
    status: int = 200,
) -> HttpResponse:
    snapshot = selectors.config_snapshot()
    if run is not None:
        views = present.run_columns(run)
    else:
        views = [present.column_view(i, c) for i, c in enumerate(columns)]
    can = abilities(request)
    answered = [v for v in views if v.answered]
    context = {
        "nav": "playground",
        "form": form,
        "columns": views,
        "problems": problems or {},
        "run": run,
        "can": can,
        "can_promote": request.user.has_perm(PROMOTE_PERMISSION) and bool(answered),
        "tasks": sorted(snapshot.tasks),
        "choices": present.model_choices(snapshot),
        "runs": present.run_rows(selectors.recent_playground_runs(limit=20)),
        "can_add": len(views) < MAX_COLUMNS,
        "max_columns": MAX_COLUMNS,
    }
    return render(request, TEMPLATE, context, status=status)


def _state_redirect(inputs: dict[str, Any], columns: list[Column]) -> HttpResponse:
    try:
        temperature = float(inputs.get("temperature") or "")
    except ValueError:
        temperature = None
    max_tokens = str(inputs.get("max_tokens") or "")
    state = Inputs(
        str(inputs.get("prompt") or ""),
        str(inputs.get("system") or ""),
        temperature,
        int(max_tokens) if max_tokens.isdigit() else None,
    )
    query = present.state_query(state, columns)
    extra = urlencode(
        [(key, str(inputs.get(field) or "")) for key, field in
         (("schema", "json_schema"), ("tools", "tools")) if inputs.get(field)]
    )  # fmt: skip
    return redirect(f"{reverse('playground')}?{query}{'&' + extra if extra else ''}")


def _edit_columns(data: Any) -> HttpResponse | None:
    """The form's "Add column", "Remove", "Duplicate": back to the page's URL, edited.

    Posted (CSRF-checked, so the token never lands in a URL) but changes nothing
    stored, so no permission is needed: a viewer may shape a link to share.
    """
    if not any(key in data for key in ("add", "remove", "duplicate")):
        return None
    columns = _form_columns(data) or list(DEFAULT_COLUMNS)
    if "add" in data and len(columns) < MAX_COLUMNS:
        columns.append(Column())
    for key in ("remove", "duplicate"):
        value = data.get(key, "")
        if value.isdigit() and int(value) < len(columns):
            index = int(value)
            if key == "remove" and len(columns) > 1:
                del columns[index]
            elif key == "duplicate" and len(columns) < MAX_COLUMNS:
                columns.insert(index + 1, columns[index])
    return _state_redirect(data.dict(), columns)


def playground_page(request: HttpRequest) -> HttpResponse:
    """The page (GET, state from the URL); POST edits the columns or runs without JavaScript."""
    if request.method == "POST":
        return _edit_columns(request.POST) or _run_without_js(request)
    columns = _url_columns(request.META.get("QUERY_STRING", "")) or list(DEFAULT_COLUMNS)
    initial: dict[str, Any] = {key: request.GET.get(key, "") for key in ("prompt", "system")}
    for key in ("temperature", "max_tokens"):
        if request.GET.get(key):
            initial[key] = request.GET[key]
    initial["json_schema"] = request.GET.get("schema", "")
    initial["tools"] = request.GET.get("tools", "")
    _prefill(columns, initial)
    return _page(request, form=InputsForm(initial=initial), columns=columns)


def _posted(request: HttpRequest) -> tuple[InputsForm, list[Column], dict[int, str]]:
    if not request.user.has_perm(RUN_PERMISSION):
        raise PermissionDenied("You need the 'aiconfig.run_task' permission to run prompts.")
    form = InputsForm(request.POST)
    columns = _form_columns(request.POST)
    problems = _column_problems(columns, set(selectors.config_snapshot().tasks))
    if not columns:
        problems[0] = "Add a column to run."
    return form, columns, problems


def _run_without_js(request: HttpRequest) -> HttpResponse:
    form, columns, problems = _posted(request)
    if not form.is_valid() or problems:
        return _page(request, form=form, columns=columns, problems=problems, status=INVALID)
    run = playground.start_run(user=request.user, inputs=form.inputs(), columns=columns)
    playground.execute_run(run=run, user=request.user)
    return redirect("playground_run", run_id=run.pk)


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _events(request: HttpRequest, run: PlaygroundRun) -> Iterator[bytes]:
    url = reverse("playground_run", kwargs={"run_id": run.pk})
    yield _sse("run", {"id": run.pk, "url": url})
    # Closing this generator (the browser went away, or pressed Stop) closes the run's
    # stream, which cancels every column: the provider requests are closed at once.
    events = playground.stream_run(run=run, user=request.user)
    try:
        for event in events:
            if event.index < 0:
                yield b": ping\n\n"  # a write that fails tells the server the reader is gone
            elif event.result is None:
                yield _sse("delta", {"column": event.index, "text": event.delta})
            else:
                result = event.result
                column = Column(result["task"], result["provider"], result["model"])
                view = present.column_view(event.index, column, event.result)
                html = render_to_string(f"{TEMPLATE}#column_result", {"col": view}, request)
                yield _sse("column", {"column": event.index, "html": html})
    finally:
        events.close()
    yield _sse("done", {"id": run.pk, "url": url})


def start_stream(request: HttpRequest) -> HttpResponse | PlaygroundRun:
    """Check and save a posted run for a stream view: the new run, or the refusal to send.

    Both stream views (blocking and async) go through here, so permissions,
    validation and the saved-run bookkeeping are the same whichever server runs them.
    """
    form, columns, problems = _posted(request)
    if not form.is_valid() or problems:
        errors = [str(e) for errs in form.errors.values() for e in errs] + list(problems.values())
        return JsonResponse({"errors": errors}, status=INVALID)
    return playground.start_run(user=request.user, inputs=form.inputs(), columns=columns)


def event_stream(content: Iterator[bytes] | AsyncIterator[bytes]) -> StreamingHttpResponse:
    """A Server-Sent Events response that no cache or proxy holds back."""
    response = StreamingHttpResponse(content, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # a proxy must pass each event on as it comes
    return response


@post_with_permission(RUN_PERMISSION)
def blocking_stream(request: HttpRequest) -> HttpResponse:
    """Run the posted columns and stream their text as Server-Sent Events (WSGI servers).

    `make run` (runserver) is a WSGI server: it sends a blocking iterator's events as
    they come, and would buffer an async one whole. ASGI servers get the async view
    (`views/playground_stream.py`), which hands requests from a WSGI server here.
    """
    started = start_stream(request)
    if isinstance(started, HttpResponse):
        return started
    return event_stream(_events(request, started))


@require_GET
def playground_run(request: HttpRequest, run_id: int) -> HttpResponse:
    """A saved run, reopened: its inputs in the form ("Run again") and its results."""
    run = get_object_or_404(PlaygroundRun.objects.select_related("user"), pk=run_id)
    form = InputsForm(
        initial={
            "prompt": run.prompt,
            "system": run.system,
            "temperature": run.temperature,
            "max_tokens": run.max_tokens,
            "json_schema": json.dumps(run.json_schema, indent=2) if run.json_schema else "",
            "tools": json.dumps(run.tools, indent=2) if run.tools else "",
        }
    )
    return _page(request, form=form, columns=[], run=run)


@require_GET
def playground_export(request: HttpRequest, run_id: int) -> HttpResponse:
    """A saved run as a JSON download."""
    run = get_object_or_404(PlaygroundRun.objects.select_related("user"), pk=run_id)
    response = JsonResponse(present.run_export(run), json_dumps_params={"indent": 2})
    response["Content-Disposition"] = f'attachment; filename="playground-run-{run.pk}.json"'
    return response


@require_GET
def playground_export_markdown(request: HttpRequest, run_id: int) -> HttpResponse:
    """A saved run as a Markdown download (for a ticket, a wiki page, a review)."""
    run = get_object_or_404(PlaygroundRun.objects.select_related("user"), pk=run_id)
    response = HttpResponse(present.run_markdown(run), content_type="text/markdown; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="playground-run-{run.pk}.md"'
    return response


@post_with_permission(PROMOTE_PERMISSION)
def playground_promote(request: HttpRequest, run_id: int) -> HttpResponse:
    """Make the model that answered a column the primary model of the chosen task."""
    run = get_object_or_404(PlaygroundRun, pk=run_id)
    task = request.POST.get("task", "")
    column = request.POST.get("column", "")
    if not column.isdigit():
        raise Http404("No such column.")
    try:
        change = playground.promote(run=run, column=int(column), task=task, user=request.user)
    except (AIConfigError, ValidationError) as exc:
        words = " ".join(getattr(exc, "messages", [str(exc)]))
        flash(request, f"Not changed: {words}", level="error")
    else:
        route = run.columns[int(column)].get("answered_by", "")
        if change is None:
            flash(request, f"Task {task} already uses {route}.")
        else:
            flash(request, f"Task {task} now uses {route} (history entry #{change.pk}).")
    return redirect("playground_run", run_id=run.pk)
