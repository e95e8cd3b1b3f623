"""The command line of a benchmark module: ``[ROUNDS] [SECONDS]``, a table, the raw JSON."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


def print_figures(
    measure: Callable[[int, float], Any], report: Callable[[Any], list[str]], argv: list[str]
) -> None:
    """Measure with ``ROUNDS`` (3) rounds of ``SECONDS`` (10) each; print the report and JSON."""
    rounds = int(argv[0]) if argv else 3
    seconds = float(argv[1]) if len(argv) > 1 else 10.0
    data = measure(rounds, seconds)
    print("\n".join(report(data)))
    print(json.dumps(data))
