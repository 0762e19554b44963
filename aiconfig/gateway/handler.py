"""The gateway's own ASGI handler: /v1/ without the dashboard's middleware.

Under ASGI, Django runs each classic middleware's request and response hooks in a
thread (`sync_to_async`), about twenty hops per request with the dashboard's stack:
several milliseconds on a busy machine, for sessions, CSRF, messages, HTMX and
sign-in lockout that a token-authenticated JSON API never uses. `aiconfig.asgi`
sends /v1/ here instead; the views are the same ones the full stack serves under
`make run` (they are CSRF-exempt and need no sign-in either way).
"""

from __future__ import annotations

from typing import Any

from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.exception import convert_exception_to_response

PREFIX = "/v1/"


class GatewayHandler(ASGIHandler):
    """Django's ASGI handler with an empty middleware chain."""

    def load_middleware(self, is_async: bool = False) -> None:
        """No middleware: the URL resolver, the view, exceptions turned into responses."""
        self._view_middleware: list[Any] = []
        self._template_response_middleware: list[Any] = []
        self._exception_middleware: list[Any] = []
        get_response = self._get_response_async if is_async else self._get_response
        self._middleware_chain = convert_exception_to_response(get_response)


def with_gateway(application: Any) -> Any:
    """`application`, with HTTP requests under /v1/ served by the lean handler."""
    gateway = GatewayHandler()

    async def route(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            await gateway(scope, receive, send)
        else:
            await application(scope, receive, send)

    return route
