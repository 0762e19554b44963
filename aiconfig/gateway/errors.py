"""Gateway errors, answered in the client's own format so its SDK raises the usual exception.

OpenAI: `{"error": {"message", "type", "code", "param"}}`; Anthropic:
`{"type": "error", "error": {"type", "message"}}`. Messages are ours, written for the
caller: never a provider key, a provider's base URL or a traceback.
"""

from __future__ import annotations

import math

from django.http import JsonResponse

from aiconfig.services.calls import TaskFailed

# The Anthropic error type for each status, as its API names them.
_ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    499: "request_cancelled",
    502: "api_error",
    500: "api_error",
}


class GatewayError(Exception):
    """A request the gateway refuses or could not serve: status, message and OpenAI fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",  # the wire format's name
        code: str | None = None,
        param: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.retry_after = retry_after


def bad_request(param: str, message: str) -> GatewayError:
    """A 400 naming the field at fault."""
    return GatewayError(400, message, param=param, code="invalid_value")


def task_failed(failed: TaskFailed) -> GatewayError:
    """Every attempt failed: a 502 naming each route tried and why (its error kind only:
    an error's text may carry a provider's URL). A spent `stop` budget is a 429, as a
    token's budget is: our own words, nothing from a provider."""
    if failed.budget_exceeded:
        refused = failed.attempts[0]
        return GatewayError(
            429,
            f"Budget exceeded: {refused.error.removeprefix('not tried: ')}.",
            type="insufficient_quota",
            code="budget_exceeded",
            retry_after=failed.retry_after,
        )
    tried = "; ".join(
        f"{i}. {a.provider}/{a.model}: {a.error_kind.replace('_', ' ') or a.outcome}"
        for i, a in enumerate(failed.attempts, start=1)
    )
    head = f"Every attempt failed for task '{failed.task}'"
    if failed.after_first_token:
        head = f"Task '{failed.task}': the stream failed after it had started"
    return GatewayError(
        502,
        f"{head}: {tried or 'no route could be tried'}.",
        type="api_error",
        code="upstream_failed",
    )


def _headers(response: JsonResponse, error: GatewayError) -> JsonResponse:
    if error.retry_after is not None:
        response["Retry-After"] = str(max(1, math.ceil(error.retry_after)))
    return response


def openai_error(error: GatewayError) -> JsonResponse:
    """The error as OpenAI's API answers it."""
    body = {
        "error": {
            "message": error.message,
            "type": error.type,
            "code": error.code,
            "param": error.param,
        }
    }
    return _headers(JsonResponse(body, status=error.status), error)


def anthropic_error(error: GatewayError) -> JsonResponse:
    """The error as Anthropic's API answers it."""
    kind = _ANTHROPIC_TYPES.get(error.status, "api_error")
    # Anthropic's format has no `param`: a 400 names the field in its message instead.
    message = (
        f"{error.param}: {error.message}" if error.status == 400 and error.param else error.message
    )
    body = {"type": "error", "error": {"type": kind, "message": message}}
    return _headers(JsonResponse(body, status=error.status), error)
