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

from django.core.exceptions import PermissionDenied, ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from aiconfig import selectors
from aiconfig.exceptions import AIConfigError
from aiconfig.forms.playground import InputsForm, prefill
from aiconfig.models import PlaygroundImage, PlaygroundRun
from aiconfig.presenters import playground as present
from aiconfig.services import playground
from aiconfig.services.playground import MAX_COLUMNS, Column, Inputs
from aiconfig.services.playground_inputs import next_turns
from aiconfig.views.common import INVALID, abilities, flash, post_with_permission

TEMPLATE = "aiconfig/playground.html"
RUN_PERMISSION = "aiconfig.run_task"
PROMOTE_PERMISSION = "aiconfig.change_taskassignment"
DEFAULT_COLUMNS = (Column(task="text"),)


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
    prefill(columns, initial)
    return _page(request, form=InputsForm(initial=initial), columns=columns)


def _conversation(data: QueryDict) -> tuple[QueryDict, tuple[dict[str, Any], ...], bool]:
    """The posted data, the earlier turns it follows, and whether it continues a run.

    A form reopened from a saved run posts `from_run`: "Continue" (`run=continue`) asks
    the follow-up message after that run's own exchange; "Run again" repeats that run's
    last turn after the same earlier turns.
    """
    parent = selectors.playground_run_from(data.get("from_run", ""))
    if parent is None:
        return data, (), False
    if data.get("run") != "continue":
        return data, tuple(parent.turns or ()), False
    data = data.copy()
    data["prompt"] = data.get("follow_up", "")
    return data, tuple(next_turns(parent.turns or (), parent.prompt, parent.columns)), True


def _posted(request: HttpRequest) -> tuple[InputsForm, list[Column], dict[int, str]]:
    if not request.user.has_perm(RUN_PERMISSION):
        raise PermissionDenied("You need the 'aiconfig.run_task' permission to run prompts.")
    data, turns, continuing = _conversation(request.POST)
    form = InputsForm(data)
    form.turns = turns
    if continuing and not str(data.get("prompt", "")).strip():
        form.is_valid()
        form.errors.pop("prompt", None)
        form.add_error("follow_up", "Type a follow-up message to continue.")
    columns = _form_columns(data)
    problems = _column_problems(columns, set(selectors.config_snapshot().tasks))
    if not columns:
        problems[0] = "Add a column to run."
    return form, columns, problems


def _run_without_js(request: HttpRequest) -> HttpResponse:
    form, columns, problems = _posted(request)
    if not form.is_valid() or problems:
        # A failed "Continue" comes back on its run, so the conversation stays in view.
        run = selectors.playground_run_from(request.POST.get("from_run", ""))
        return _page(
            request, form=form, columns=columns, run=run, problems=problems, status=INVALID
        )
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
                view = present.column_view(
                    event.index, column, result, turns=run.turns, run_id=run.pk, prompt=run.prompt
                )
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
            "image_size": run.image_size,
            "image_quality": run.image_quality,
            "image_count": run.image_count,
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


# Served inline only when a browser cannot run them as a page (SVG can carry script).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@require_GET
def playground_image(request: HttpRequest, run_id: int, column: int, position: int) -> HttpResponse:
    """One image a saved run generated: shown in the page, or `?download=1` as a file.

    Whoever may see the saved run's page may see its images: signed in (checked here
    too, not only by the sign-in middleware, since these are bytes rather than a page).
    """
    if not request.user.is_authenticated:
        raise PermissionDenied("Sign in to see playground images.")
    image = get_object_or_404(PlaygroundImage, run_id=run_id, column=column, position=position)
    inline = image.mime_type in INLINE_IMAGE_TYPES
    content_type = image.mime_type if inline else "application/octet-stream"
    response = HttpResponse(bytes(image.data), content_type=content_type)
    response["X-Content-Type-Options"] = "nosniff"
    if request.GET.get("download") or not inline:
        name = f"playground-run-{run_id}-column-{column + 1}-image-{position + 1}"
        extension = EXTENSIONS.get(image.mime_type, "bin")
        response["Content-Disposition"] = f'attachment; filename="{name}.{extension}"'
    return response
