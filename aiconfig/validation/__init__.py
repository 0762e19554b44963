"""The rules a configuration must follow, in one place.

The same functions back the admin forms, the CLI, the services, the dashboard warnings
and `manage.py check`. Each problem names the task, the provider/model and what to do
about it. One module per job (limits, providers, routes); every name is re-exported
here so `from aiconfig.validation import check_task` keeps working.
"""

from __future__ import annotations

from aiconfig.validation.limits import (
    ENV_VAR_RE,
    ERROR,
    MAX_BASE_URL,
    MAX_DESCRIPTION,
    MAX_KEY_VARIABLE,
    MAX_LABEL,
    MAX_MODEL_NAME,
    MAX_PRICING_ID,
    MAX_PROVIDER_NAME,
    MAX_RETRIES,
    MAX_TASK_NAME,
    MAX_TIMEOUT_SECONDS,
    MAX_TOTAL_TIMEOUT_SECONDS,
    MIN_TIMEOUT_SECONDS,
    NAME_RE,
    PROVIDER_MODEL_FIELDS,
    PROVIDER_TEXT_LIMITS,
    WARNING,
    ConfigProblem,
    check_length,
    check_model_name,
    check_name,
    check_provider_limits,
    check_timeout,
    raise_for_problems,
)
from aiconfig.validation.providers import check_provider, check_provider_format, is_valid_base_url
from aiconfig.validation.routes import (
    check_route,
    check_snapshot,
    check_task,
    check_task_config,
    check_total_timeout,
    route_problems,
)

__all__ = [
    "ENV_VAR_RE",
    "ERROR",
    "MAX_BASE_URL",
    "MAX_DESCRIPTION",
    "MAX_KEY_VARIABLE",
    "MAX_LABEL",
    "MAX_MODEL_NAME",
    "MAX_PRICING_ID",
    "MAX_PROVIDER_NAME",
    "MAX_RETRIES",
    "MAX_TASK_NAME",
    "MAX_TIMEOUT_SECONDS",
    "MAX_TOTAL_TIMEOUT_SECONDS",
    "MIN_TIMEOUT_SECONDS",
    "NAME_RE",
    "PROVIDER_MODEL_FIELDS",
    "PROVIDER_TEXT_LIMITS",
    "WARNING",
    "ConfigProblem",
    "check_length",
    "check_model_name",
    "check_name",
    "check_provider",
    "check_provider_format",
    "check_provider_limits",
    "check_route",
    "check_snapshot",
    "check_task",
    "check_task_config",
    "check_timeout",
    "check_total_timeout",
    "is_valid_base_url",
    "raise_for_problems",
    "route_problems",
]
