"""What the admin's forms share: the stale-edit check and showing rule problems."""

from __future__ import annotations

from typing import Any

from django import forms

from aiconfig import presenters, selectors
from aiconfig.exceptions import StaleEdit
from aiconfig.models import Provider
from aiconfig.selectors import config_snapshot
from aiconfig.services.config import check_version
from aiconfig.snapshots import Route
from aiconfig.validation import ConfigProblem

# --- versions ------------------------------------------------------------------------


class VersionedAdminForm(forms.ModelForm):
    """An admin change form that refuses a save based on an old version of its object.

    The hidden `version` is the object's newest change id when the form was opened.
    If someone changed the object since, the save is refused with who changed what,
    the input is kept, and the form moves to the new version so saving again (after
    a look) goes through.
    """

    version = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)
    target_type = ""

    def target_name(self) -> str:
        """The name the object's changes are recorded under."""
        return str(getattr(self.instance, "name", ""))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and not self.is_bound:
            self.fields["version"].initial = selectors.change_version(
                target_type=self.target_type, target_name=self.target_name()
            )

    def clean(self) -> dict[str, Any]:
        """Everything else first, then: has the object changed since the form was opened?"""
        cleaned = super().clean() or {}
        if not self.instance.pk or cleaned.get("version") is None:
            return cleaned
        try:
            check_version(
                target_type=self.target_type,
                target_name=self.target_name(),
                expected_version=cleaned["version"],
            )
        except StaleEdit as exc:
            notice = presenters.stale_notice(exc)
            self.add_error(
                None,
                [
                    notice.headline,
                    *notice.changes,
                    "Your input is kept below: check it against the newer values, then "
                    "save again to apply it.",
                ],
            )
            data = self.data.copy()
            data[self.add_prefix("version")] = str(exc.version)
            self.data = data
        return cleaned


# --- rule problems and choices ---------------------------------------------------


def add_problems(form: forms.BaseForm, problems: list[ConfigProblem]) -> None:
    """Show each error next to its field (or above the form when it has none)."""
    for problem in problems:
        if problem.is_error:
            form.add_error(problem.field if problem.field in form.fields else None, problem.text)


def _provider_choices(current: str | None = None) -> list[tuple[str, str]]:
    names = list(Provider.objects.order_by("name").values_list("name", flat=True))
    choices = [(n, n) for n in names]
    if current and current not in names:
        choices.insert(0, (current, f"{current} (unknown provider)"))
    return choices


def _filled_route(route: Route, *, output_kind: str) -> Route:
    if route.model:
        return route
    provider = config_snapshot().providers.get(route.provider)
    return Route(route.provider, provider.default_model_for(output_kind) if provider else "")
