"""``make demo`` runs offline, and the numbers it prints agree with the trails it prints."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from bench.gunicorn import ROOT

pytestmark = pytest.mark.integration


def test_demo_runs_and_its_counts_match_its_trails() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    blocks = result.stdout.split("\n== ")[1:]
    served = [b for b in blocks if "served by" in b]
    assert len(served) >= 3
    for block in served:
        found = re.search(r"(\d+) requests? sent upstream(?:, (\d+) passed over)?", block)
        assert found, block
        trail = [line for line in block.splitlines() if line.strip().startswith("- ")]
        skipped = [line for line in trail if ":skipped_" in line]
        assert int(found[1]) == len(trail) - len(skipped), block
        assert int(found[2] or 0) == len(skipped), block
    assert "grok-3 is set aside" in result.stdout
    assert "g4f-main: circuit closed" in result.stdout
