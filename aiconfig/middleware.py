"""Middleware the dashboard needs on top of Django's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


class LoginRequiredMiddleware(DjangoLoginRequired):
    """Django's LoginRequiredMiddleware, plus a whole-page redirect for HTMX requests.

    Without it, an HTMX request from an expired session follows the redirect and
    swaps the sign-in form into a task card. `HX-Redirect` makes htmx load the sign-in
    page instead, coming back afterwards to the page the user was on (not to the
    fragment URL the request went to). Plain requests get Django's usual redirect.
    """

    def handle_no_permission(
        self, request: HttpRequest, view_func: Callable[..., Any]
    ) -> HttpResponse:
        """Redirect to the login page; for HTMX, via `HX-Redirect`."""
        if request.headers.get("HX-Request") != "true":
            return super().handle_no_permission(request, view_func)
        current = urlsplit(request.headers.get("HX-Current-URL", ""))
        # Only a path on this site is a safe place to come back to.
        next_path = current.path or "/"
        if current.query:
            next_path += f"?{current.query}"
        login = redirect_to_login(
            next_path,
            resolve_url(self.get_login_url(view_func)),
            self.get_redirect_field_name(view_func),
        )
        response = HttpResponse(status=204)
        response["HX-Redirect"] = login["Location"]
        return response
