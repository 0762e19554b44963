"""The Usage page's filters: a period (24 h, 7/30/90 days) or a custom date range, a task.

`?period=7d|30d|90d` and `&task=` keep working as before; `?from=2026-11-01&to=2026-11-07`
asks for whole local days, both included. Unknown periods and tasks fall back to the
defaults (as they always did); a custom range that cannot be read is refused with a
clear error, and the page shows the default period meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone

PERIODS: dict[str, tuple[str, timedelta]] = {
    "24h": ("Last 24 hours", timedelta(hours=24)),
    "7d": ("Last 7 days", timedelta(days=7)),
    "30d": ("Last 30 days", timedelta(days=30)),
    "90d": ("Last 90 days", timedelta(days=90)),
}
DEFAULT_PERIOD = "7d"
CUSTOM = "custom"
# A longer range is a different question (a year's budget), and slow to chart per day.
MAX_RANGE_DAYS = 366


def period_start(period: str, *, now: datetime | None = None) -> datetime:
    """When a period begins: "Last 7 days" is today and the six days before it.

    Whole local days from midnight, so the per-day chart has exactly that many bars and
    the totals count the same calls the bars show. "Last 24 hours" stays a rolling window.
    """
    now = now or timezone.now()
    length = PERIODS[period][1]
    if length < timedelta(days=2):
        return now - length
    first_day = timezone.localdate(now) - timedelta(days=length.days - 1)
    return _midnight(first_day)


def _midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass(frozen=True, slots=True)
class UsageFilters:
    """What the page reports on: [since, until), a task or all, and how to say so."""

    period: str  # a key of PERIODS, or CUSTOM
    since: datetime
    until: datetime
    task: str
    label: str
    start_day: date | None = None  # the custom range's days, to show them again
    end_day: date | None = None

    @property
    def length(self) -> timedelta:
        """How long the period is (the previous period is as long, just before it)."""
        return self.until - self.since


class UsageFilterForm(forms.Form):
    """Parses the page's query string; `filters()` says what to report on."""

    period = forms.CharField(required=False)
    task = forms.CharField(required=False)
    start = forms.DateField(required=False, label="From")
    end = forms.DateField(required=False, label="To")

    def __init__(self, data: object, *, tasks: set[str] | frozenset[str]) -> None:
        # The query string says `from` and `to`; Python cannot name a field `from`.
        query = {key: data.get(key, "") for key in ("period", "task")}  # type: ignore[attr-defined]
        query["start"] = data.get("from", "")  # type: ignore[attr-defined]
        query["end"] = data.get("to", "")  # type: ignore[attr-defined]
        super().__init__(query)
        self.known_tasks = tasks

    def clean(self) -> dict[str, object]:
        """A custom range needs both days, in order, not in the future, at most a year."""
        cleaned = super().clean() or {}
        start, end = cleaned.get("start"), cleaned.get("end")
        if self.errors or (start is None and end is None):
            return cleaned
        if start is None or end is None:
            raise forms.ValidationError("A custom range needs both a From and a To date.")
        assert isinstance(start, date)
        assert isinstance(end, date)
        today = timezone.localdate()
        if start > end:
            raise forms.ValidationError(
                f"The range ends ({end:%Y-%m-%d}) before it starts ({start:%Y-%m-%d})."
            )
        if start > today:
            raise forms.ValidationError(f"{start:%Y-%m-%d} is in the future: nothing to show.")
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            raise forms.ValidationError(
                f"Choose at most {MAX_RANGE_DAYS} days (that range has {(end - start).days + 1})."
            )
        return cleaned

    def filters(self, *, now: datetime | None = None) -> UsageFilters:
        """The period to show: the custom range when valid, else the chosen or default one."""
        now = now or timezone.now()
        valid = self.is_valid()
        # The fields that could be read stand even when the range could not.
        data = self.cleaned_data
        task = str(data.get("task") or "")
        if task not in self.known_tasks:
            task = ""
        start, end = data.get("start"), data.get("end")
        if valid and isinstance(start, date) and isinstance(end, date):
            until = min(now, _midnight(end + timedelta(days=1)))
            label = f"{start:%b %-d, %Y} to {end:%b %-d, %Y}"
            return UsageFilters(CUSTOM, _midnight(start), until, task, label, start, end)
        period = str(data.get("period") or DEFAULT_PERIOD)
        if period not in PERIODS:
            period = DEFAULT_PERIOD
        return UsageFilters(period, period_start(period, now=now), now, task, PERIODS[period][0])
