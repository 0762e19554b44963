"""Which whole days the reports may read from `UsageDaily` instead of the hourly rollup."""

from __future__ import annotations

import datetime as dt

from aiconfig.models import UsageDailyDone


def daily_run(
    first_hour: dt.datetime | None, last_hour: dt.datetime
) -> tuple[dt.datetime, dt.datetime] | None:
    """The longest run of consecutive summed UTC days within [first_hour, last_hour), if any.

    As (its first midnight, the midnight after its last day), both UTC. The hours
    outside it are read from the hourly rollup as before.
    """
    last_day = last_hour.astimezone(dt.UTC).date()  # the day last_hour falls in is partial
    query = UsageDailyDone.objects.filter(day__lt=last_day)
    if first_hour is not None:
        start = first_hour.astimezone(dt.UTC)
        first_day = (
            start.date() if start.time() == dt.time.min else start.date() + dt.timedelta(days=1)
        )
        query = query.filter(day__gte=first_day)
    best: tuple[dt.date, dt.date] | None = None
    run_start: dt.date | None = None
    previous: dt.date | None = None
    for day in query.order_by("day").values_list("day", flat=True):
        if previous is None or day != previous + dt.timedelta(days=1):
            run_start = day
        previous = day
        assert run_start is not None
        if best is None or (day - run_start) > (best[1] - best[0]):
            best = (run_start, day)
    if best is None:
        return None
    low = dt.datetime.combine(best[0], dt.time.min, tzinfo=dt.UTC)
    high = dt.datetime.combine(best[1] + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
    return low, high
