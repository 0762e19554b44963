"""`make bench-reports` runs end to end (on a tiny log), so it cannot rot unnoticed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_reports_generates_a_log_builds_the_rollup_and_times_every_report() -> None:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "BENCH_DATABASE_URL"}}
    env["PYTHONPATH"] = str(ROOT)
    result = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--rows", "2000", "--repeat", "1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "2,000 call-log rows over 90 days, database sqlite" in out
    assert "usage rollup rebuilt" in out
    for report in ("Usage page, 90 days", "Usage page, 7 days", "ai_usage --since 90d --json"):
        assert report in out
    assert "admin call-log list" in out
    assert "call explorer, first page" in out
    # Every generated row is counted by the report, none lost or doubled.
    assert "ai_usage counts 2,000 calls of 2,000 log rows" in out
