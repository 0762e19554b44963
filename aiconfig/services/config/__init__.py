"""Writes to the AI configuration (the seed's AITaskConfigService), validated and recorded.

Every function here validates with `aiconfig.validation`, writes in one transaction,
and records a `ConfigChange`. Recording bumps the configuration version, so the next
call in any process reads the new configuration. One module per job (tasks,
providers, prices, revert, and what they share in common); the names are re-exported
here so `from aiconfig.services.config import update_task_config` keeps working.
"""

from __future__ import annotations

from aiconfig.services.config.common import (
    ConfigValidationError,
    RouteInput,
    check_version,
    to_route,
)
from aiconfig.services.config.prices import delete_model_price, save_model_price
from aiconfig.services.config.providers import (
    add_provider,
    delete_provider,
    delete_provider_model,
    provider_info,
    save_provider_model,
    update_provider,
)
from aiconfig.services.config.revert import revert_change
from aiconfig.services.config.tasks import (
    ProposedTask,
    _save_assignment,
    add_task,
    delete_task,
    update_task_config,
    validate_task_change,
    validate_task_name,
)
from aiconfig.services.history import PROVIDER_FIELDS
from aiconfig.validation import ENV_VAR_RE

__all__ = [
    "ENV_VAR_RE",
    "PROVIDER_FIELDS",
    "ConfigValidationError",
    "ProposedTask",
    "RouteInput",
    "_save_assignment",
    "add_provider",
    "add_task",
    "check_version",
    "delete_model_price",
    "delete_provider",
    "delete_provider_model",
    "delete_task",
    "provider_info",
    "revert_change",
    "save_model_price",
    "save_provider_model",
    "to_route",
    "update_provider",
    "update_task_config",
    "validate_task_change",
    "validate_task_name",
]
