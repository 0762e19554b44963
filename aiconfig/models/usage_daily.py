"""The usage rollup summed per whole UTC day, for reports over weeks and months."""

from __future__ import annotations

from django.db import models

from aiconfig.enums import CallOutcome, Channel
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


class UsageDailyRoute(models.Model):
    """The hourly usage rollup summed per UTC day, task, provider and model.

    `UsageDaily` without the outcome: half its rows, for the reads that need the
    latency histogram (161 columns) but not the outcome, the costliest there are
    (percentiles per route), and cost per day and task.
    """

    day = models.DateField()
    task = models.CharField(max_length=64)
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)

    class Meta:
        # Ordered by route, then day, and no index by day: SQLite (without ANALYZE's
        # statistics) would take one for the period's range and sort every row of it
        # to group by route, three times slower than walking this key in order.
        constraints = [
            models.UniqueConstraint(
                fields=["task", "provider", "model", "day"], name="usage_daily_route_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.task} {self.provider}/{self.model}"


class UsageDailyByModel(models.Model):
    """The hourly usage rollup summed per UTC day, provider and model.

    For the latency per model and day (the Usage page's chart and its table): a
    dozen rows a day where `UsageDailyRoute` has one per task too.
    """

    day = models.DateField()
    provider = models.CharField(max_length=64)
    model = models.CharField(max_length=200)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["day", "provider", "model"], name="usage_daily_by_model_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.provider}/{self.model}"


class UsageDailyCaller(models.Model):
    """The hourly usage rollup summed per UTC day, task, source, user and API token.

    Who called, for the Usage page's breakdowns by source, user and token: the key
    `UsageDaily` does not keep. Summed with it, from the same hours, in the same
    transaction, and forgotten with it, so a day `UsageDailyDone` names is in both.
    Counters only: the breakdowns show no percentiles.
    """

    day = models.DateField()
    task = models.CharField(max_length=64)
    source = models.CharField(max_length=16, choices=Channel)
    user_id = models.BigIntegerField(default=0, db_default=0)  # 0: no user, as in the rollup
    api_token = models.CharField(max_length=64, blank=True, default="", db_default="")

    class Meta:
        # Ordered by the breakdowns' key, then day: read in order, without a sort
        # (see UsageDailyRoute).
        constraints = [
            models.UniqueConstraint(
                fields=["source", "user_id", "api_token", "task", "day"],
                name="usage_daily_caller_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.task} {self.source} user {self.user_id} {self.api_token}"


class UsageDailyDone(models.Model):
    """A day the daily sums hold, in every table of them (a day without calls has no
    rows, but is done all the same)."""

    day = models.DateField(unique=True)

    def __str__(self) -> str:
        return str(self.day)


# The same counters (BigIntegerField) and histogram columns (IntegerField) as the rollup
# (its user is a key part: only UsageDailyCaller keeps it, and declares it).
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
    UsageDailyRoute.add_to_class(_field.name, _copy(default=0, db_default=0))
    UsageDailyByModel.add_to_class(_field.name, _copy(default=0, db_default=0))
    if _copy is models.BigIntegerField:  # the counters, not the latency histogram
        UsageDailyCaller.add_to_class(_field.name, _copy(default=0, db_default=0))
del _field, _copy
