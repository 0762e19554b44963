"""The usage rollup summed per whole UTC day, for reports over weeks and months."""

from __future__ import annotations

from django.db import models

from aiconfig.enums import CallOutcome
from aiconfig.models.usage import UsageRollup


class UsageDaily(models.Model):
    """The hourly usage rollup summed per UTC day, task, provider, model and outcome.

    Only days that ended long enough ago (see `aiconfig.services.usage_daily`) and
    only derived from `UsageRollup`, never from the call log: a 90-day report reads a
    few thousand of these instead of hundreds of thousands of hourly rows. The
    counters and the latency histogram are `UsageRollup`'s own (added below).
    """

    day = models.DateField()
    task = models.CharField(max_length=64)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)
    outcome = models.CharField(max_length=16, choices=CallOutcome)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "task", "provider", "model", "outcome"], name="usage_daily_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.task} {self.provider}/{self.model} {self.outcome}"


class UsageDailyDone(models.Model):
    """A day `UsageDaily` holds (a day without calls has no rows, but is done all the same)."""

    day = models.DateField(unique=True)

    def __str__(self) -> str:
        return str(self.day)


# The same counters (BigIntegerField) and histogram columns (IntegerField) as the rollup;
# not its user, a key part these sums do not keep.
for _field in UsageRollup._meta.concrete_fields:
    if _field.primary_key or _field.name == "user_id":
        continue
    if not isinstance(_field, models.IntegerField):
        continue
    _copy = (
        models.BigIntegerField
        if isinstance(_field, models.BigIntegerField)
        else models.IntegerField
    )
    UsageDaily.add_to_class(_field.name, _copy(default=0, db_default=0))
del _field, _copy
