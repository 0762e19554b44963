"""The usage rollup's arithmetic: hours, fixed log-spaced latency buckets, percentiles.

Plain arithmetic, shared by the writer (`aiconfig.services.rollup`) and the readers
(`aiconfig.selectors`), so both agree on which bucket a latency falls in.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import itertools
import math
import struct
from collections.abc import Sequence

from aiconfig.models import LATENCY_BUCKETS, LATENCY_STEPS_PER_DOUBLING

BUCKET_COLUMNS: tuple[str, ...] = tuple(f"lat_{k:03d}" for k in range(LATENCY_BUCKETS))
_LAST = LATENCY_BUCKETS - 1


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of the (UTC) hour a moment falls in: the rollup's time key."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC)
    return moment.replace(minute=0, second=0, microsecond=0)


def latency_bucket(latency_ms: float) -> int:
    """The bucket a latency falls in: 0 under 1 ms, then one per 1/8 of a doubling."""
    if not latency_ms >= 1.0:  # also catches NaN
        return 0
    bucket = math.floor(math.log2(latency_ms) * LATENCY_STEPS_PER_DOUBLING) + 1
    return min(bucket, _LAST)


@functools.cache
def bucket_thresholds() -> list[float]:
    """Where each bucket k >= 1 starts: the least float `latency_bucket` puts in k or above.

    Found by bisection over the floats themselves (positive floats sort like their bit
    patterns), so a database comparing with these puts every latency in exactly the
    bucket `latency_bucket` gives it, float rounding of log2 included.
    """

    def as_int(value: float) -> int:
        return int(struct.unpack("<q", struct.pack("<d", value))[0])

    def as_float(bits: int) -> float:
        return float(struct.unpack("<d", struct.pack("<q", bits))[0])

    thresholds = []
    for bucket in range(1, LATENCY_BUCKETS):
        low, high = as_int(0.5), as_int(1e300)
        while low < high:
            middle = (low + high) // 2
            if latency_bucket(as_float(middle)) >= bucket:
                high = middle
            else:
                low = middle + 1
        thresholds.append(as_float(low))
    return thresholds


def bucket_value(bucket: int) -> float:
    """The latency a bucket stands for: its geometric middle (the open last one: its floor)."""
    if bucket <= 0:
        return 0.5
    if bucket >= _LAST:
        return 2.0 ** ((_LAST - 1) / LATENCY_STEPS_PER_DOUBLING)
    return 2.0 ** ((bucket - 0.5) / LATENCY_STEPS_PER_DOUBLING)


def histogram_percentile(counts: Sequence[int], fraction: float) -> float | None:
    """The nearest-rank percentile of a histogram (None when it is empty).

    The same rank as `selectors.percentile` on the raw values, so the answer is that
    value's bucket: within 4.5% of it from 1 ms up.
    """
    # Running totals and a binary search, both in C: a 90-day Usage page asks this of
    # thousands of 161-bucket histograms.
    running = list(itertools.accumulate(counts))
    total = running[-1] if running else 0
    if total <= 0:
        return None
    rank = max(1, math.ceil(fraction * total))
    # The first bucket whose running total reaches the rank.
    return bucket_value(min(bisect.bisect_left(running, rank), len(running) - 1))
