"""The benchmark harness runs end to end with tiny numbers (no timing is asserted)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.gunicorn import ROOT
from bench.upstream import nginx_binary

from .helpers import IN_CI

pytestmark = [
    pytest.mark.integration,
    # In CI (CI=true) a missing program fails the test instead of skipping it.
    pytest.mark.skipif(
        (shutil.which("wrk") is None or nginx_binary() is None) and not IN_CI,
        reason="wrk and nginx come from the distribution (.ci/run installs them)",
    ),
]


def test_bench_smoke_run(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--seconds",
            "1",
            "--rounds",
            "1",
            "--concurrency",
            "1,2",
            "--no-litellm",
            "--no-sizes",
            "--streams-per-batch",
            "3",
            "--open-streams",
            "20",
            "--out",
            str(tmp_path),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    for row in ("| direct | 1 |", "| keyrelay gthread | 2 |", "| keyrelay gevent | 1 |"):
        assert row in result.stdout
    assert "Failover cost" in result.stdout
    for row in ("| 10,000 | ", "| 50 | ", "| 1,000 | "):  # keys, providers, request KB
        assert row in result.stdout
    assert "| keyrelay gevent | 10 |" in result.stdout  # the streaming table
    assert "20 completed, 0 failed" in result.stdout
    (report,) = tmp_path.glob("*.json")
    data = json.loads(report.read_text())
    runs = data["runs"]["keyrelay gthread"]
    assert all(
        r["errors"] == 0 and r["requests_per_second"] > 0 and r["cpu_us_per_request"] > 0
        for rs in runs.values()
        for r in rs
    ), runs
    scaling = data["scaling"]
    assert set(scaling["keys"]) == {"1", "100", "10000"}
    assert all(point["errors"] == 0 for curve in scaling.values() for point in curve.values())
    assert 0 < data["rss_idle"]["keyrelay gthread"] < 1000
    by_dialect = data["dialects"]
    assert set(by_dialect) == {"chat completions", "messages native", "responses native",
                               "messages translated", "responses translated"}  # fmt: skip
    assert all(row["errors"] == 0 and row["cpu_us"] > 0 for row in by_dialect.values())
    assert "| messages native |" in result.stdout
    shares = {name: row["cached_share"] for name, row in data["sessions"]["sessions"].items()}
    assert len(shares) == 6 and all(0 < share < 1 for share in shares.values()), shares
    assert "key changes per turn" in result.stdout
    assert "a session's turn, in-process" in result.stdout
    assert list(tmp_path.glob("*.md"))


@pytest.mark.parametrize("mode", [[], ["--stream"]])
def test_profile_runs(mode: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.profile", "--requests", "20", "--top", "3", *mode],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "CPU per request, in-process:" in result.stdout
    assert "keyrelay providers" in result.stdout


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="bench.compare checks out a commit")
def test_bench_compare_runs_this_build_against_a_commit() -> None:
    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    before = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"],
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "bench.compare", rev, "--rounds", "1", "--seconds", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith(("| 1 |", "| 64 |"))]
    assert len(rows) == 2
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert all(cells[i].replace(",", "").isdigit() for i in (1, 2, 3))  # floor, rev, here
    after = subprocess.run(["git", "-C", str(ROOT), "worktree", "list"],
                           capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert after == before  # its checkout is removed
