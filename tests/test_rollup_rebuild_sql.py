"""`ai_usage rebuild` grouped by the database gives exactly the rollup the live writes give."""

from __future__ import annotations

import math
import random
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from aiconfig.latency import BUCKET_COLUMNS, bucket_thresholds, latency_bucket
from aiconfig.models import CallLog, UsageRollup
from aiconfig.services.rollup import KEY_FIELDS, SUM_FIELDS, rebuild_rollup, summed


def _table() -> dict[tuple[Any, ...], tuple[list[int], list[int]]]:
    return {
        tuple(getattr(r, f) for f in KEY_FIELDS): (
            [getattr(r, f) for f in SUM_FIELDS],
            [getattr(r, c) for c in BUCKET_COLUMNS],
        )
        for r in UsageRollup.objects.all()
    }


def test_bucket_thresholds_are_the_exact_edges_of_latency_bucket() -> None:
    for bucket, edge in enumerate(bucket_thresholds(), start=1):
        assert latency_bucket(edge) == bucket
        assert latency_bucket(math.nextafter(edge, 0)) == bucket - 1


@pytest.mark.django_db
def test_rebuild_in_sql_equals_the_rows_summed_one_by_one() -> None:
    rng = random.Random(3)
    edges = bucket_thresholds()
    # Every bucket edge and the float just below it, besides ordinary skewed latencies.
    latencies = [0.0, 0.4, 1.0, 1e9, *edges, *(math.nextafter(e, 0) for e in edges)]
    latencies += [rng.lognormvariate(6, 1.5) for _ in range(300)]
    now = timezone.now()
    calls = [uuid.uuid4() for _ in range(len(latencies) // 3 + 1)]
    rows = []
    for i, latency in enumerate(latencies):
        outcome = rng.choice(["success", "success", "error", "timed_out", "cancelled"])
        priced = outcome == "success" and i % 5
        rows.append(
            CallLog(
                request_id=calls[i // 3],  # three attempts per call: only the last ends it
                created_at=now - timedelta(minutes=rng.randint(0, 60 * 30)),
                task=rng.choice(["text", "agent"]),
                operation="text",
                provider="openai",
                model=rng.choice(["gpt-4.1", "gpt-4o-mini"]),
                attempt=1 + i % 3,
                is_fallback=i % 3 == 2,
                outcome=outcome,
                latency_ms=latency,
                input_tokens=rng.randint(1, 5000) if outcome == "success" else None,
                output_tokens=rng.randint(1, 900) if outcome == "success" else None,
                cache_read_tokens=rng.choice([None, 0, 512]),
                cache_write_tokens=rng.choice([None, 200]),
                reasoning_tokens=rng.choice([None, 64]),
                image_count=i % 7 == 0,
                cost_usd=Decimal(rng.randint(1, 10**9)) / 10**8 if priced else None,
                source=rng.choice(["code", "api", "ui"]),
            )
        )
    CallLog.objects.bulk_create(rows)
    one_by_one = {k: (v.sums, v.buckets) for k, v in summed(CallLog.objects.all()).items()}

    written = rebuild_rollup()
    assert written == len(one_by_one)
    assert _table() == one_by_one
    rebuild_rollup(in_sql=False)
    assert _table() == one_by_one
    # From an hour on: the earlier hours stay as they were.
    since = now - timedelta(hours=5)
    UsageRollup.objects.update(attempts=0)
    rebuild_rollup(since=since)
    rebuilt = _table()
    for key, (sums, _) in rebuilt.items():
        assert (sums[0] == 0) == (key[0] < since.replace(minute=0, second=0, microsecond=0))
