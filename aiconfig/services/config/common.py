"""What every configuration write shares: its error type, version check and route input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from django.core.exceptions import ValidationError

from aiconfig.exceptions import StaleEdit
from aiconfig.selectors import change_version, changes_since
from aiconfig.snapshots import ProviderInfo, Route
from aiconfig.validation import ConfigProblem

RouteInput = Route | tuple[str, str] | Mapping[str, str] | str


class ConfigValidationError(ValidationError):
    """A proposed change breaks a rule; `problems` holds every error, keyed by field."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        by_field: dict[str, list[str]] = {}
        for problem in self.problems:
            by_field.setdefault(problem.field, []).append(problem.text)
        super().__init__(by_field)

    def __str__(self) -> str:
        return "\n".join(p.text for p in self.problems)


def _raise_on_errors(problems: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    errors = [p for p in problems if p.is_error]
    if errors:
        raise ConfigValidationError(errors)
    return [p for p in problems if not p.is_error]


def check_version(*, target_type: str, target_name: str, expected_version: int | None) -> None:
    """Refuse a save based on an old version (None: the caller does not track versions).

    Call it inside the write's transaction, after locking the row, so two saves
    based on the same version cannot both pass.
    """
    if expected_version is None:
        return
    current = change_version(target_type=target_type, target_name=target_name)
    if current != expected_version:
        raise StaleEdit(
            target_type=target_type,
            target_name=target_name,
            version=current,
            changes=changes_since(
                target_type=target_type,
                target_name=target_name,
                # A forged or future version lists every change rather than none.
                after_id=expected_version if expected_version < current else 0,
            ),
        )


def to_route(value: RouteInput) -> Route:
    """Accept `Route`, `(provider, model)`, `{"provider":…, "model":…}` or `"provider:model"`."""
    if isinstance(value, Route):
        return Route(value.provider.strip().lower(), value.model.strip())
    if isinstance(value, str):
        return Route.parse(value)
    if isinstance(value, Mapping):
        return Route(
            str(value.get("provider", "")).strip().lower(), str(value.get("model", "")).strip()
        )
    provider, model = value
    return Route(provider.strip().lower(), (model or "").strip())


def _with_default_model(
    route: Route, *, output_kind: str, providers: Mapping[str, ProviderInfo]
) -> tuple[Route, bool]:
    """Fill a blank model from the provider's default for the task's output kind."""
    if route.model:
        return route, False
    provider = providers.get(route.provider)
    default = provider.default_model_for(output_kind) if provider else ""
    return Route(route.provider, default), bool(default)
