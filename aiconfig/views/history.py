"""The History page: every configuration change, newest first, each revertible after a look.

Revert has a confirm step: it says what reverting does and which later changes to the
same object it would undo, and only a POST with `confirm=1` reverts.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from aiconfig import presenters, selectors, services
from aiconfig.exceptions import AIConfigError
from aiconfig.models import Channel, ConfigChange
from aiconfig.presenters import RevertPlan
from aiconfig.views.common import abilities, flash, toast

TEMPLATE = "aiconfig/history.html"
PAGE_SIZE = 25


def _filters(query: QueryDict) -> dict[str, str]:
    """The valid filters in a query string (unknown values are ignored, not errors)."""
    filters: dict[str, str] = {}
    if query.get("target") in ConfigChange.Target.values:
        filters["target"] = query["target"]
    if query.get("channel") in Channel.values:
        filters["channel"] = query["channel"]
    return filters


def _context(
    request: HttpRequest,
    query: QueryDict,
    errors: dict[int, str] | None = None,
    confirm: RevertPlan | None = None,
) -> dict[str, Any]:
    filters = _filters(query)
    changes = selectors.list_changes(target=filters.get("target"), channel=filters.get("channel"))
    page = Paginator(changes, PAGE_SIZE).get_page(query.get("page"))
    permissions = request.user.get_all_permissions()
    querystring = QueryDict(mutable=True)
    querystring.update(filters)
    if page.number > 1:
        querystring["page"] = str(page.number)
    return {
        "page": page,
        "rows": presenters.change_rows(page.object_list, permissions=permissions, errors=errors),
        "filters": filters,
        "targets": ConfigChange.Target.choices,
        "channels": Channel.choices,
        "query": querystring.urlencode(),
        "can": abilities(request),
        "nav": "history",
        "confirm": confirm,
    }


def history(request: HttpRequest) -> HttpResponse:
    """Changes from every channel (dashboard, admin, CLI, code, env), newest first."""
    return render(request, TEMPLATE, _context(request, request.GET))


def _posted_int(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


@require_http_methods(["GET", "POST"])
def change_revert(request: HttpRequest, change_id: int) -> HttpResponse:
    """Put the changed object back as it was before `change_id`; the revert is recorded too.

    GET, or POST without `confirm=1`, only shows what reverting would do (naming later
    changes it would undo). Reverting needs the change permission of what the change
    touched (a task, a provider, a model).
    """
    change = ConfigChange.objects.filter(pk=change_id).first()
    if change is None:
        raise Http404(f"No change #{change_id}.")
    needed = presenters.REVERT_PERMISSIONS.get(change.target_type)
    if needed is None or not request.user.has_perm(needed):
        raise PermissionDenied(f"You may not revert changes to {change.target_type}s.")
    data = request.POST if request.method == "POST" else request.GET
    # Where the user was (filters, page), so the list comes back the same way.
    query = QueryDict(data.get("query", ""))
    back = reverse("history") + (f"?{query.urlencode()}" if query else "")
    version = selectors.change_version(
        target_type=change.target_type, target_name=change.target_name
    )
    seen = _posted_int(data.get("version"))
    # The object changed again while the confirmation was open: show what it does now.
    moved = seen is not None and seen != version
    if request.method != "POST" or data.get("confirm") != "1" or moved:
        later = selectors.later_changes(change=change)
        plan = presenters.revert_plan(change, later, version=version, moved=moved)
        context = _context(request, query, confirm=plan)
        if request.htmx:
            return render(request, f"{TEMPLATE}#history_body", context)
        return render(request, TEMPLATE, context)
    try:
        new = services.revert_change(
            change_id=change_id,
            channel=Channel.UI,
            user=request.user,
            confirm_later_changes=True,
        )
    except (ValidationError, AIConfigError) as exc:
        message = f"Could not revert #{change_id}: {' '.join(getattr(exc, 'messages', [str(exc)]))}"
        if not request.htmx:
            flash(request, message, level="error")
            return redirect(back)
        context = _context(request, query, errors={change_id: message})
        return toast(render(request, f"{TEMPLATE}#history_body", context), message, level="error")
    message = f"Reverted #{change_id} ({change.target_name}); recorded as #{new.pk}."
    if not request.htmx:
        flash(request, message)
        return redirect(back)
    context = _context(request, query)
    return toast(render(request, f"{TEMPLATE}#history_body", context), message)
