"""Rules for a provider: where its key may go, its URL, and what tasks need of it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from aiconfig.catalog import BUILTIN_PROVIDERS_BY_NAME
from aiconfig.endpoints import base_url_problem, key_variable_problem
from aiconfig.snapshots import ProviderInfo
from aiconfig.validation.limits import ENV_VAR_RE, ERROR, WARNING, ConfigProblem, _shown


def is_valid_base_url(url: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    if not url or any(c.isspace() for c in url):
        return False
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a non-numeric port
    except ValueError:
        return False
    del port
    return parts.scheme in {"http", "https"} and bool(parts.hostname)


def check_provider(*, provider: ProviderInfo, in_use_by: Iterable[str] = ()) -> list[ConfigProblem]:
    """Problems with a provider's own settings; errors only matter when a task uses it."""
    users = sorted(set(in_use_by))
    level = ERROR if users else WARNING
    used = f" (used by {', '.join(users)})" if users else ""
    problems: list[ConfigProblem] = []
    url = provider.effective_base_url
    spec = BUILTIN_PROVIDERS_BY_NAME.get(provider.name)
    if not url and users:
        problems.append(
            ConfigProblem(
                level,
                "missing_base_url",
                f"Provider '{provider.name}'{used} has no base URL.",
                f"Set {spec.base_url_env} or set it on the Providers page."
                if spec
                else "Set it on the Providers page.",
                provider=provider.name,
                field="base_url",
            )
        )
    elif url and not is_valid_base_url(url):
        problems.append(
            ConfigProblem(
                level,
                "malformed_base_url",
                f"Provider '{provider.name}'{used}: base URL '{url}' is not a valid http(s) URL.",
                "Use an absolute URL such as https://api.example.com/v1.",
                provider=provider.name,
                field="base_url",
            )
        )
    elif url and (refused := base_url_problem(url)):
        # Always an error, used or not: a stored URL is one click from a request.
        problems.append(
            ConfigProblem(
                ERROR,
                "endpoint_not_allowed",
                f"Provider '{provider.name}'{used}: base URL '{url}' is refused: {refused}.",
                "Use the provider's real endpoint. Link-local and cloud metadata addresses "
                "are never allowed; loopback and private networks need "
                "AICONFIG_ALLOW_PRIVATE_ENDPOINTS=true.",
                provider=provider.name,
                field="base_url",
            )
        )
    key_env = provider.api_key_env.strip()
    # Something that is not a variable name (a pasted key?) has its own rule, which never
    # echoes it; a name is shown, never the variable's value.
    if ENV_VAR_RE.match(key_env) and (reason := key_variable_problem(key_env)):
        problems.append(
            ConfigProblem(
                ERROR,
                "key_variable_not_allowed",
                f"Provider '{provider.name}'{used}: key variable {reason}, so it is never read.",
                "Name a variable that holds only this provider's key, e.g. "
                f"{provider.name.upper().replace('-', '_')}_API_KEY, or extend "
                "AICONFIG_KEY_VARIABLES.",
                provider=provider.name,
                field="api_key_env",
            )
        )
    return problems


def check_provider_format(fields: Mapping[str, object]) -> list[ConfigProblem]:
    """A base URL is an absolute http(s) URL; the key field holds a variable name, not a key."""
    problems: list[ConfigProblem] = []
    base_url = fields.get("base_url")
    if isinstance(base_url, str) and base_url and not is_valid_base_url(base_url.strip()):
        problems.append(
            ConfigProblem(ERROR, "base_url", f"'{_shown(base_url)}' is not a valid http(s) URL.",
                          "Use e.g. https://api.example.com/v1.", field="base_url")
        )  # fmt: skip
    key_env = fields.get("api_key_env")
    if isinstance(key_env, str) and key_env and not ENV_VAR_RE.match(key_env.strip()):
        problems.append(
            ConfigProblem(ERROR, "api_key_env", "Enter the name of the environment variable "
                          "that holds the key (e.g. MYPROVIDER_API_KEY), never the key itself.",
                          field="api_key_env")
        )  # fmt: skip
    return problems
