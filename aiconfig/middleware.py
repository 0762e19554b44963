"""Middleware the dashboard needs on top of Django's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequired
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url
from whitenoise.middleware import WhiteNoiseMiddleware


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


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    """WhiteNoise, able to sit in an async middleware chain.

    WhiteNoise's middleware is sync-only, and Django runs everything below a sync
    middleware through `async_to_sync`: under ASGI every async view (the /v1/
    gateway) then paid thread hops on every request. This one serves static files
    the same way (off the event loop) and passes every other request straight on.
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[..., Any]) -> None:
        super().__init__(get_response)
        self._is_async = iscoroutinefunction(get_response)
        if self._is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        """The sync path unchanged; the async one when the chain is async."""
        if self._is_async:
            return self._acall(request)
        return super().__call__(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        if self.autorefresh:  # development: looks on disk, so off the event loop
            static_file = await sync_to_async(self.find_file)(request.path_info)
        else:
            static_file = self.files.get(request.path_info)
        if static_file is not None:
            return await sync_to_async(self.serve)(static_file, request)
        return await self.get_response(request)
