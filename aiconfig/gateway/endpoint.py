"""The plumbing every gateway view shares: JSON body, token check, errors in format.

`endpoint` wraps a view of either wire format (OpenAI's or Anthropic's): it checks
the method and the token, puts the token's name where the call log reads it, and
turns every failure into the client's own error shape.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import RequestDataTooBig
from django.db import connection
from django.http import HttpResponse
from django.views.decorators.csrf import csrf_exempt

from aiconfig.exceptions import AIConfigError, UnknownTask
from aiconfig.gateway import loop_lookup
from aiconfig.gateway.access import Grant, authorize, authorize_in_memory, presented_secret
from aiconfig.gateway.errors import GatewayError, bad_request, openai_error, task_failed
from aiconfig.gateway.wire import LeanRequest, WireRequest
from aiconfig.services.calls import TaskFailed
from aiconfig.services.calls.log import API_TOKEN
from aiconfig.services.calls.plan import PINNED_CONFIG

logger = logging.getLogger("aiconfig.gateway")

View = Callable[[WireRequest, Grant, dict[str, Any]], Awaitable[HttpResponse]]
Refuse = Callable[[GatewayError], HttpResponse]


def parse_body(request: WireRequest) -> dict[str, Any]:
    """The JSON object the request carries; anything else is a 400."""
    try:
        raw = request.body
    except RequestDataTooBig:
        raise GatewayError(
            413,
            f"The request body is over {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes "
            "(DATA_UPLOAD_MAX_MEMORY_SIZE).",
            code="request_too_large",
        ) from None
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise GatewayError(
            400, "The request body is not valid JSON.", code="invalid_json"
        ) from None
    if not isinstance(body, dict):
        raise GatewayError(400, "The request body must be a JSON object.", code="invalid_json")
    return body


def _check(secret: str, task: str | None) -> Grant:
    """The token check, on a database connection known to work.

    The fast path (`aiconfig.gateway.handler`) keeps its connections open between
    requests (Django's request signals, which would close them, are not sent there), so
    one that broke (a database restart) is closed here and the next query reconnects.
    """
    # (Never inside a transaction: that is a test's, and this would end it.) The call
    # log's own connection is dropped by the log itself when a write fails.
    if connection.errors_occurred and not connection.in_atomic_block:
        connection.close_if_unusable_or_obsolete()
    return authorize(secret=secret, task=task)


async def _acheck(request: WireRequest, task: str | None) -> Grant:
    """The token check: decided on the loop when it can be (the fast path on SQLite,
    see `aiconfig.gateway.loop_lookup`), else all of it in a thread."""
    secret = presented_secret(request)
    # Only the fast path: under Django's handler (`make run`, the test client) the
    # request's own connection, and any transaction on it, is the one to read.
    if isinstance(request, LeanRequest):
        found = await loop_lookup.find(secret)
        if found is not None:
            grant = authorize_in_memory(token=found[0], version=found[1], task=task)
            if grant is not None:
                return grant
    return await sync_to_async(_check)(secret, task)


def endpoint(method: str, *, refuse: Refuse = openai_error, needs_task: bool = True) -> Any:
    """A gateway view: open to token holders only (no session, no CSRF), errors in format.

    The token's name is put in the request's context, where the call log reads it.
    """

    def decorate(view: View) -> Any:
        async def wrapped(request: WireRequest) -> HttpResponse:
            try:
                if request.method != method:
                    raise GatewayError(
                        405, f"Use {method} for {request.path}.", code="method_not_allowed"
                    )
                body = parse_body(request) if method == "POST" else {}
                task = body.get("model") if needs_task else None
                if needs_task and (not isinstance(task, str) or not task):
                    raise bad_request("model", "'model' is required: the name of a task.")
                grant = await _acheck(request, task)
                # Calls started in the view read them (the token for the call log, the
                # configuration the check read); the thread runserver lends us must not
                # keep them afterwards (async_to_sync copies context changes back).
                token_reset = API_TOKEN.set(grant.token)
                config_reset = PINNED_CONFIG.set(grant.config)
                try:
                    return await view(request, grant, body)
                finally:
                    PINNED_CONFIG.reset(config_reset)
                    API_TOKEN.reset(token_reset)
            except GatewayError as error:
                return refuse(error)
            except TaskFailed as failed:
                if failed.cancelled:
                    return refuse(GatewayError(499, "The request was cancelled.", type="cancelled"))
                return refuse(task_failed(failed))
            except UnknownTask as unknown:
                # Removed between the token check and the call.
                return refuse(
                    GatewayError(
                        404,
                        f"The model '{unknown.task}' does not exist.",
                        code="model_not_found",
                        param="model",
                    )
                )
            except AIConfigError as error:
                # The task exists but its output kind does not fit this endpoint.
                return refuse(bad_request("model", str(error)))
            except Exception:
                # No traceback or internal detail for the client; the server log has it.
                logger.exception("Gateway request to %s failed", request.path)
                return refuse(GatewayError(500, "Internal error in the gateway.", type="api_error"))

        wrapped.__name__ = view.__name__
        wrapped.__doc__ = view.__doc__
        return login_not_required(csrf_exempt(wrapped))

    return decorate
