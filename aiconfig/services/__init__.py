"""Writes and actions: configuration edits, seeding, history, and running tasks."""

from __future__ import annotations

from aiconfig.services.config import (
    ConfigValidationError,
    add_provider,
    add_task,
    delete_model_price,
    delete_provider,
    delete_provider_model,
    delete_task,
    revert_change,
    save_model_price,
    save_provider_model,
    update_provider,
    update_task_config,
)
from aiconfig.services.seeding import apply_env, plan_env_apply, seed_from_env

__all__ = [
    "ConfigValidationError",
    "add_provider",
    "add_task",
    "apply_env",
    "delete_model_price",
    "delete_provider",
    "delete_provider_model",
    "delete_task",
    "plan_env_apply",
    "revert_change",
    "save_model_price",
    "save_provider_model",
    "seed_from_env",
    "update_provider",
    "update_task_config",
]
