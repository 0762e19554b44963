"""What a gateway view reads of a request, whichever server path brought it.

Under `make run` (and Django's test client) /v1/ goes through Django's handler and
the views get an `HttpRequest`; under an ASGI server (`make serve`) the fast path in
`aiconfig.gateway.handler` builds a `LeanRequest` straight from the ASGI scope.
Both have what the views use: the method, the path, the headers and the body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from django.core.exceptions import RequestDataTooBig
from django.utils.datastructures import CaseInsensitiveMapping


class WireRequest(Protocol):
    """The parts of a request a gateway view reads (Django's `HttpRequest` has them)."""

    @property
    def method(self) -> str | None:
        """The HTTP method, upper case."""

    @property
    def path(self) -> str:
        """The URL path."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The request headers, looked up case-insensitively."""

    @property
    def body(self) -> bytes:
        """The raw body; RequestDataTooBig when it was over the upload limit."""


class LeanRequest:
    """A request read straight from ASGI: no META, no streams, no middleware state."""

    __slots__ = ("_body", "headers", "method", "path")

    def __init__(
        self, *, method: str, path: str, headers: CaseInsensitiveMapping, body: bytes | None
    ) -> None:
        self.method = method
        self.path = path
        self.headers = headers
        self._body = body  # None: the body was over DATA_UPLOAD_MAX_MEMORY_SIZE

    @property
    def body(self) -> bytes:
        """The raw body, or RequestDataTooBig as Django's request raises it."""
        if self._body is None:
            raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
        return self._body
