"""What every dashboard view shares: permission checks and toasts."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST
from django_htmx.http import trigger_client_event

from aiconfig.endpoints import MANAGE_ENDPOINTS

View = Callable[..., HttpResponse]

# Status for a form that came back with errors: htmx is configured (base.html) to swap
# it like a 200, and it tells scripts and tests that nothing was saved.
INVALID = 422
# Status for a save refused because it was based on an old version (swapped like a 200
# too): the form comes back with the person's input and what changed meanwhile.
CONFLICT = 409


@dataclass(frozen=True, slots=True)
class Abilities:
    """What the signed-in user may do on the dashboard (the server checks again on POST)."""

    edit_tasks: bool
    add_tasks: bool
    edit_providers: bool
    add_providers: bool
    edit_models: bool
    run: bool
    # Base URLs and key variables decide where keys are sent: endpoint admins only.
    manage_endpoints: bool = False

    @property
    def read_only(self) -> bool:
        """True when the user can change nothing (the page says so)."""
        return not (
            self.edit_tasks
            or self.add_tasks
            or self.edit_providers
            or self.add_providers
            or self.edit_models
        )


def abilities(request: HttpRequest) -> Abilities:
    """The user's dashboard abilities, from their Django permissions."""
    has = request.user.has_perm
    return Abilities(
        edit_tasks=has("aiconfig.change_taskassignment"),
        add_tasks=has("aiconfig.add_tasktype"),
        edit_providers=has("aiconfig.change_provider"),
        add_providers=has("aiconfig.add_provider"),
        edit_models=has("aiconfig.change_providermodel"),
        run=has("aiconfig.run_task"),
        manage_endpoints=has(MANAGE_ENDPOINTS),
    )


def post_with_permission(perm: str) -> Callable[[View], View]:
    """Only POST, and only for users with `perm`: 405 / 403 otherwise, before any work."""

    def decorator(view: View) -> View:
        @functools.wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perm(perm):
                raise PermissionDenied(f"You need the '{perm}' permission to do this.")
            return view(request, *args, **kwargs)

        return require_POST(wrapped)

    return decorator


def toast(response: HttpResponse, message: str, *, level: str = "success") -> HttpResponse:
    """Ask the page (app.js) to show a toast once this HTMX response arrives."""
    return trigger_client_event(response, "toast", {"message": message, "level": level})


def flash(request: HttpRequest, message: str, *, level: str = "success") -> None:
    """The no-JavaScript counterpart of `toast`: a message shown on the next page."""
    if level == "error":
        messages.error(request, message)
    else:
        messages.success(request, message)
