"""The call explorer: calls (attempts folded), one call's page, and the raw attempts as CSV.

Any signed-in user may look (the call log holds no keys; prompts only when the site
stores them). Filters live in the query string, so the Usage page can link to the calls
behind a row and a filtered list can be shared.
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterator
from typing import Any

from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from aiconfig import selectors
from aiconfig.enums import CallOutcome, Channel
from aiconfig.forms.calls import CallFilterForm, resolved_filters
from aiconfig.presenters import calls as present
from aiconfig.selectors import calls as call_selectors
from aiconfig.selectors.calls import CallFilters, CallPage
from aiconfig.views.streaming import as_async

LIST_TEMPLATE = "aiconfig/calls.html"
DETAIL_TEMPLATE = "aiconfig/call.html"
# A form that came back with errors (as elsewhere on the dashboard): nothing is lost.
INVALID = 422
CHUNK_ROWS = 500


def _page(form: CallFilterForm, filters: CallFilters) -> CallPage | None:
    """The page the cursor asks for; None (an error on the form) if its call is gone."""
    data = form.cleaned_data
    cursor_id = data["after"] or data["before"]
    if cursor_id is None:
        return call_selectors.call_page(filters=filters)
    position = call_selectors.cursor_position(attempt_id=cursor_id)
    if position is None:
        form.add_error(None, "That page starts at a call that is no longer in the log.")
        return None
    if data["after"]:
        return call_selectors.call_page(filters=filters, after=position)
    return call_selectors.call_page(filters=filters, before=position)


@require_GET
def calls(request: HttpRequest) -> HttpResponse:
    """The list of calls, newest first, filtered, Newer/Older by keyset."""
    form = CallFilterForm(request.GET)
    filters = resolved_filters(form)
    page = _page(form, filters) if filters is not None else None
    # The filters as typed, for the CSV link and the page links (not the cursors).
    kept = {
        name: request.GET.get(name, "")
        for name in ("task", "provider", "model", "outcome", "source", "user", "since", "until")
    }
    snapshot = selectors.config_snapshot()
    context = {
        "form": form,
        "kept": kept,
        "filtered": any(kept.values()),
        "lines": present.call_lines(page.calls) if page else [],
        "page": page,
        "tasks": sorted(snapshot.tasks),
        "providers": sorted(snapshot.providers),
        "outcomes": CallOutcome.choices,
        "sources": Channel.choices,
        "nav": "calls",
    }
    return render(request, LIST_TEMPLATE, context, status=200 if page else INVALID)


@require_GET
def call_detail(request: HttpRequest, request_id: uuid.UUID) -> HttpResponse:
    """One call: each attempt's timing, tokens, cost explained, error; its text if stored."""
    rows = call_selectors.call_attempts(request_id=request_id)
    if not rows:
        raise Http404("No call with this id in the log (it may have been pruned).")
    view = present.call_view(rows, selectors.config_snapshot())
    return render(request, DETAIL_TEMPLATE, {"call": view, "nav": "calls"})


class _Line:
    """A file-like object whose `write` hands back the line instead of storing it."""

    def write(self, text: str) -> str:
        return text


def _csv_chunks(records: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    """The CSV in chunks of rows: one chunk per hop keeps a big export quick under ASGI."""
    writer = csv.writer(_Line(), lineterminator="\n")
    lines = [writer.writerow(present.EXPORT_COLUMNS)]
    for record in records:
        lines.append(writer.writerow(present.export_cells(record)))
        if len(lines) >= CHUNK_ROWS:
            yield "".join(lines).encode()
            lines = []
    if lines:
        yield "".join(lines).encode()


@require_GET
def calls_csv(request: HttpRequest) -> HttpResponse:
    """Every matching attempt as CSV, streamed as it is read (formula-safe cells)."""
    form = CallFilterForm(request.GET)
    filters = resolved_filters(form)
    if filters is None:
        errors = "; ".join(f"{field}: {' '.join(e)}" for field, e in form.errors.items())
        return HttpResponse(
            f"Bad filter: {errors}\n", status=400, content_type="text/plain; charset=utf-8"
        )
    records = call_selectors.attempts_for_export(filters=filters)
    chunks = _csv_chunks(records)
    # Under ASGI a blocking iterator would be buffered whole before the first byte.
    content = as_async(chunks) if isinstance(request, ASGIRequest) else chunks
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="aiconfig-calls.csv"'
    return response
