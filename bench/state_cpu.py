"""CPU per request under gunicorn with the state file: ``python -m bench.state_cpu [R] [S]``.

Starts keyrelay with gthread and with gevent workers (2 each, ``STATE_URL=sqlite:///…``)
in front of the nginx fake upstream, warms them up, then loads each in turn at 10
connections; prints requests per second, CPU microseconds per request and errors per
round as JSON. Run it from two checkouts, alternately, to compare them.
"""

from __future__ import annotations

import json
import sys
import tempfile

from . import targets
from .run import load
from .upstream import NginxUpstream


def main(argv: list[str]) -> None:
    """Measure and print the figures."""
    rounds = int(argv[0]) if argv else 3
    seconds = float(argv[1]) if len(argv) > 1 else 10.0
    upstream = NginxUpstream()
    started: list[targets.Target] = []
    try:
        folder = tempfile.mkdtemp(prefix="keyrelay-bench-")
        for worker_class in ("gthread", "gevent"):
            state_url = f"sqlite:///{folder}/{worker_class}.db"
            started.append(
                targets.keyrelay(upstream.base_url, worker_class=worker_class, STATE_URL=state_url)
            )
        for target in started:
            load(target, 4, 2.0)
        figures: dict[str, list[tuple[int, int, int]]] = {t.name: [] for t in started}
        for _ in range(rounds):
            for target in started:
                result = load(target, 10, seconds)
                cpu = round(result.cpu_us_per_request or 0)
                figures[target.name].append((round(result.requests_per_second), cpu, result.errors))
        print(json.dumps(figures))
    finally:
        for target in started:
            target.stop()
        upstream.stop()


if __name__ == "__main__":
    main(sys.argv[1:])
