"""This build against another commit, both over the stack floor: ``python -m bench.compare REV``.

Checks ``REV`` out in a temporary git worktree, then starts, in front of one nginx fake
upstream: the stack floor under gevent (``bench/floor_app.py``), keyrelay at ``REV`` and
keyrelay as it is here, each with the shipped defaults (gevent, 2 workers, the state
file, the shipped logging). wrk runs at each concurrency, round after round, the order of
the three rotating each round; the figures are medians over the rounds. What each build
spends over the floor, and what a change saved, come from one interleaved run: the
machine's drift falls on all three alike (absolute figures move ±10-20% between runs on
these shared cores). Run it with the project's Python: ``.venv/bin/python -m bench.compare
HEAD~3``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

from . import targets
from .gunicorn import ROOT
from .run import load, rotated
from .targets import Target
from .upstream import NginxUpstream

CONCURRENCY = (1, 10, 64)


def worktree(rev: str) -> Path:
    """A checkout of ``rev`` in a temporary folder (removed by ``drop_worktree``)."""
    where = Path(tempfile.mkdtemp(prefix="keyrelay-compare-")) / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(where), rev],
        check=True,
    )
    return where


def drop_worktree(where: Path) -> None:
    """Remove a checkout made by ``worktree``."""
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False
    )
    shutil.rmtree(where.parent, ignore_errors=True)


def measure(rev: str, rounds: int, seconds: float) -> dict[tuple[str, int], list[float]]:
    """Worker CPU µs per request of each target at each concurrency, one list per round."""
    upstream, tree = NginxUpstream(), worktree(rev)
    started: list[Target] = []
    try:
        started.append(targets.floor(upstream.base_url, worker_class="gevent"))
        for name, root in ((rev, tree), ("this build", ROOT)):
            target = targets.keyrelay(
                upstream.base_url, worker_class="gevent", shipped_logging=True, root=root
            )
            target.name = name
            started.append(target)
        for target in started:
            load(target, 4, min(2.0, seconds))
        spent: dict[tuple[str, int], list[float]] = defaultdict(list)
        for round_ in range(rounds):
            for connections in CONCURRENCY:
                for target in rotated(started, round_):
                    result = load(target, connections, seconds)
                    if result.errors:
                        what = f"{target.name}: {result.errors} errors at c={connections}"
                        raise RuntimeError(what)
                    spent[target.name, connections].append(result.cpu_us_per_request or 0.0)
        return spent
    finally:
        for target in started:
            target.stop()
        upstream.stop()
        drop_worktree(tree)


def report(spent: dict[tuple[str, int], list[float]], rev: str) -> str:
    """A markdown table: CPU per request, over the floor, and the change."""
    lines = [
        f"| c | floor µs | {rev} µs | this build µs | {rev} over floor | "
        "this build over floor | change |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in CONCURRENCY:
        floor, before, after = (
            statistics.median(spent[name, c]) for name in ("stack floor gevent", rev, "this build")
        )
        lines.append(
            f"| {c} | {floor:,.0f} | {before:,.0f} | {after:,.0f} | {before - floor:+,.0f} | "
            f"{after - floor:+,.0f} | {after - before:+,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure, then print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("rev", help="the commit to compare against (a hash, a tag, HEAD~3)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args(argv)
    print(report(measure(args.rev, args.rounds, args.seconds), args.rev))


if __name__ == "__main__":
    main()
