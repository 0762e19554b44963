"""The call explorer's filters, read from the query string (`/calls/?task=…&since=…`).

The Usage page links here with `?task=&provider=&model=&since=&until=`. Times are dates
(`2026-12-01`: `until` then means to the end of that day) or datetimes
(`2026-12-01T14:30`, with or without an offset; without one, the site's time zone).
A bad value is reported next to its field and the page keeps what was typed.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from aiconfig.enums import CallOutcome, Channel
from aiconfig.selectors.calls import CallFilters, user_id_named

# "2026-12-01T10:00:00+01:00" with its "+" unencoded arrives as a space.
_OFFSET_AS_SPACE = re.compile(r" (\d\d:?\d\d)$")
TIME_HELP = "A date (2026-12-01) or a date and time (2026-12-01 14:30)."


def parse_when(text: str, *, end_of_day: bool) -> datetime:
    """A date or datetime typed by a person, as an aware datetime.

    A bare date is that day's midnight, or with `end_of_day` the next midnight (so
    "until 2026-12-01" includes the whole of the 1st).
    """
    text = _OFFSET_AS_SPACE.sub(r"+\1", text.strip())
    try:
        # The date first: `parse_datetime` also takes a bare date, as midnight.
        day = parse_date(text)
        moment = None if day else parse_datetime(text)
    except ValueError:  # well-formed but impossible, e.g. 2026-02-30
        raise ValidationError(f"'{text}' is not a real date.") from None
    if moment is None and day is None:
        raise ValidationError(f"'{text}' is not a date. {TIME_HELP}")
    if moment is None:
        assert day is not None
        moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time.min)
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class CallFilterForm(forms.Form):
    """The explorer's filters and page cursor; every field optional."""

    task = forms.CharField(required=False, max_length=64)
    provider = forms.CharField(required=False, max_length=64)
    model = forms.CharField(required=False, max_length=200)
    outcome = forms.ChoiceField(
        required=False,
        choices=[("", "Any outcome"), *CallOutcome.choices],
        error_messages={"invalid_choice": "Choose an outcome from the list."},
    )
    source = forms.ChoiceField(
        required=False,
        choices=[("", "Any source"), *Channel.choices],
        error_messages={"invalid_choice": "Choose a source from the list."},
    )
    user = forms.CharField(required=False, max_length=150)
    since = forms.CharField(required=False, max_length=40, help_text=TIME_HELP)
    until = forms.CharField(required=False, max_length=40, help_text=TIME_HELP)
    before = forms.IntegerField(required=False, min_value=1)
    after = forms.IntegerField(required=False, min_value=1)

    def clean_since(self) -> datetime | None:
        """The start of the period (inclusive), or None."""
        text = self.cleaned_data["since"]
        return parse_when(text, end_of_day=False) if text.strip() else None

    def clean_until(self) -> datetime | None:
        """The end of the period (exclusive), or None."""
        text = self.cleaned_data["until"]
        return parse_when(text, end_of_day=True) if text.strip() else None

    def clean(self) -> dict[str, object]:
        """`since` must come before `until`."""
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since >= until:
            self.add_error("until", "'Until' must come after 'since'.")
        return data

    def filters(self, *, user_id: int | None) -> CallFilters:
        """The cleaned filters (the user already resolved to an id by the view)."""
        data = self.cleaned_data
        return CallFilters(
            task=data["task"].strip(),
            provider=data["provider"].strip(),
            model=data["model"].strip(),
            outcome=data["outcome"],
            source=data["source"],
            user_id=user_id,
            since=data["since"],
            until=data["until"],
        )


def resolved_filters(form: CallFilterForm) -> CallFilters | None:
    """The form's filters with the user name looked up; None (errors on the form) if invalid.

    The lookup is a database read, so it happens here, after validation, not in `clean()`.
    """
    if not form.is_valid():
        return None
    name = form.cleaned_data["user"].strip()
    user_id = None
    if name:
        user_id = user_id_named(username=name)
        if user_id is None:
            form.add_error("user", f"There is no user named '{name}'.")
            return None
    return form.filters(user_id=user_id)
