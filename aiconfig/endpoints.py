"""The trust boundary around provider endpoints: who may say where a key goes, and where to.

A provider's base URL and the name of its key variable together decide which secret
is sent to which server. So:

* changing either needs `aiconfig.manage_endpoints` (group "AI endpoint admins");
  ordinary editors keep everything else (`require_endpoint_permission`);
* a key variable must match `AICONFIG_KEY_VARIABLES` and never be one of Django's,
  the OS's or this app's own variables (`key_variable_problem`), or "Add provider"
  would send SECRET_KEY or DATABASE_URL to whoever runs the endpoint;
* requests never go to link-local or metadata addresses (`adapters.egress`), and only
  go to loopback/private ones while `AICONFIG_ALLOW_PRIVATE_ENDPOINTS` is on.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied

from adapters.egress import REFUSED_PREFIX, url_problem
from adapters.errors import AdapterError

MANAGE_ENDPOINTS = "aiconfig.manage_endpoints"
# The provider fields that decide where a key is sent.
ENDPOINT_FIELDS = ("base_url", "api_key_env")

# Never a provider's key, whatever AICONFIG_KEY_VARIABLES says: Django's and this
# app's settings, the OS's variables, and other services' credentials.
DENIED_KEY_VARIABLES = frozenset(
    {
        "SECRET_KEY",
        "DATABASE_URL",
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "SHELL",
        "PWD",
        "OLDPWD",
        "HOSTNAME",
        "LANG",
        "TERM",
        "TMPDIR",
        "MAIL",
        "DEBUG",
        "ALLOWED_HOSTS",
        "CSRF_TRUSTED_ORIGINS",
        "TIME_ZONE",
        "MEDIA_ROOT",
        "LOG_LEVEL",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "REDIS_URL",
        "CACHE_URL",
        "EMAIL_URL",
        "EMAIL_HOST_PASSWORD",
        "SENTRY_DSN",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
    }
)
DENIED_KEY_PREFIXES = (
    "DJANGO_",
    "AICONFIG_",
    "AI_",  # task settings (AI_TEXT_PROVIDER, ...)
    "DATABASE",
    "SECRET",
    "PG",  # libpq: PGPASSWORD, PGHOST, ...
    "LD_",
    "PYTHON",
    "LC_",
    "XDG_",
    "SSH_",
    "GPG_",
    "SUDO_",
    "GIT_",
    "GITHUB_",
    "GH_",
    "CI_",
    "ACTIONS_",
    "RUNNER_",
    "AWS_",
    "KUBERNETES_",
    "DOCKER_",
    "VIRTUAL_ENV",
)


def key_variable_patterns() -> list[str]:
    """The allowlist (`AICONFIG_KEY_VARIABLES`): shell-style patterns, matched case-sensitively."""
    patterns = getattr(settings, "AICONFIG_KEY_VARIABLES", None) or ["*_API_KEY", "*_TOKEN"]
    return [p.strip() for p in patterns if p.strip()]


def key_variable_problem(name: str) -> str | None:
    """Why `name` may not hold a provider key, or None when it may. Blank is allowed."""
    return _key_variable_problem(name, tuple(key_variable_patterns()))


# Asked up to three times per attempt of every call (reading the key, building the
# client, redacting errors): remembered per name and allowlist, which rarely change.
@functools.lru_cache(maxsize=256)
def _key_variable_problem(name: str, patterns: tuple[str, ...]) -> str | None:
    name = name.strip()
    if not name:
        return None
    upper = name.upper()
    if upper in DENIED_KEY_VARIABLES or upper.startswith(DENIED_KEY_PREFIXES):
        return f"{name} is a variable of Django, the operating system or this app, not a key"
    if not any(fnmatchcase(name, pattern) for pattern in patterns):
        return f"{name} does not match AICONFIG_KEY_VARIABLES ({', '.join(patterns)})"
    return None


def key_variable_allowed(name: str) -> bool:
    """True when `name` may be read as a provider key (see `key_variable_problem`)."""
    return key_variable_problem(name) is None


def allow_private_endpoints() -> bool:
    """`AICONFIG_ALLOW_PRIVATE_ENDPOINTS`: may requests go to loopback and private networks?"""
    return bool(getattr(settings, "AICONFIG_ALLOW_PRIVATE_ENDPOINTS", True))


def base_url_problem(url: str) -> str | None:
    """Why requests may not go to `url`'s host (judged without DNS), or None."""
    return url_problem(url, allow_private=allow_private_endpoints())


def can_manage_endpoints(user: Any) -> bool:
    """Whether `user` may set base URLs and key variables; None (the system itself) may."""
    return user is None or bool(user.has_perm(MANAGE_ENDPOINTS))


def require_endpoint_permission(user: Any, *, provider: str, fields: Iterable[str]) -> None:
    """Raise PermissionDenied when `user` changes endpoint `fields` without the permission.

    `user=None` is the system itself: env seeding, migrations, and commands run by an
    operator who already has shell access to the environment (and so to the keys).
    """
    fields = sorted(fields)
    if not fields or can_manage_endpoints(user):
        return
    what = " and ".join(f.replace("api_key_env", "key variable").replace("_", " ") for f in fields)
    raise PermissionDenied(
        f"Changing the {what} of '{provider}' decides where its API key is sent, so it needs "
        "the 'manage endpoints' permission (group \"AI endpoint admins\"). Ask an endpoint "
        "admin to make this change."
    )


_HTTP_STATUS_RE = re.compile(r"\(HTTP (\d{3})\)")
# Kinds whose words come from our own checks, before or after a request (a missing key,
# a disabled provider, output that is not the JSON asked for): kept as they are.
_OWN_KINDS = frozenset(
    {
        "provider_not_initialized",
        "capability_not_supported",
        "not_configured",
        "cancelled",
        "invalid_output",
        "budget_exceeded",  # a spent `stop` budget refused the call: no request was made
    }
)
_MODEL_NOT_FOUND_RE = re.compile(r"model ('[^']*') not found")


def public_error(*, kind: str, message: str) -> tuple[str, str]:
    """The (kind, words) "Test connection" and "Try it" may show for a failed request.

    Enough for a person (the HTTP status, whether the key or model was rejected) but
    never text from the body of whatever answered, and the same words for refused,
    timed out and garbled: otherwise the buttons are a port scanner for the internal
    network. The call log keeps the full message for whoever reads logs.
    """
    match = _HTTP_STATUS_RE.search(message)
    status = f" (HTTP {match.group(1)})" if match else ""
    text = message.split(": ", 1)[-1]  # adapter messages are "<provider>: <what>"
    if text.startswith(REFUSED_PREFIX):
        # Refused by our own address policy before connecting: say why. The reason names
        # only the address the configuration gave (or what its name resolved to).
        return "provider_error", text
    if kind in _OWN_KINDS:
        return kind, message
    if kind == "authentication_failed":
        return kind, f"the endpoint rejected the API key{status}."
    if kind == "rate_limited":
        return kind, f"rate limited{status}; try again later."
    if kind == "model_not_found" and (model := _MODEL_NOT_FOUND_RE.search(message)):
        return kind, f"model {model.group(1)} not found{status}."
    if kind == "invalid_request":
        return kind, f"the endpoint rejected the request{status}."
    return "provider_error", f"could not reach the endpoint{status}."


def public_failure(error: BaseException, *, provider: str) -> str:
    """`public_error` for an exception, as one sentence naming the provider."""
    if not isinstance(error, AdapterError):
        return f"{provider}: could not reach the endpoint."
    kind, words = public_error(kind=error.kind, message=str(error))
    if kind in _OWN_KINDS:
        return words
    return f"{provider}: {words}"
