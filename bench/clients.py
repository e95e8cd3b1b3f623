"""What client keys cost per request: ``python -m bench.clients [REQUESTS]``.

In one process, the checks a request with a client key goes through (``verify`` the key,
``admit`` it against its limits and budget, ``settle`` it when it ends), on each store:
``memory://``, the state file and a real redis-server. Two keys: one with no limits (a
lookup only) and one with every limit and a budget (a lookup and two atomic changes).
It reports the CPU per request (``time.process_time``) and, on Redis, the round trips
per request (each command or pipeline sent).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from typing import Any

import redis.connection

from providers.clients.admin import add_client
from providers.clients.records import Limits, Period
from providers.config.shape import RoutingConfig
from providers.routing.router import Router

from .redisserver import RedisServer

LIMITED = Limits(rpm=10**6, tpm=10**9, daily_tokens=10**12, max_concurrent=1000,
                 budget=10**6, period=Period.MONTH)  # fmt: skip
TOKENS = (1200, 300, 1500, 1000)


class RoundTrips:
    """Counts what redis-py sends (one send per command or pipeline: one round trip)."""

    def __init__(self) -> None:
        self.sent = 0
        self._original = redis.connection.Connection.send_packed_command

    def __enter__(self) -> RoundTrips:
        counter = self

        def counted(conn: Any, command: Any, check_health: bool = True) -> None:
            counter.sent += 1
            counter._original(conn, command, check_health)  # type: ignore[no-untyped-call]

        redis.connection.Connection.send_packed_command = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *_: object) -> None:
        redis.connection.Connection.send_packed_command = self._original  # type: ignore[method-assign]


def _per_request(router: Router, key: str, requests: int) -> tuple[float, float, float]:
    """CPU µs per request of verify + admit + settle as a chat request makes them, and the
    Redis round trips per request before the upstream is called (verify + admit) and after
    (settle)."""
    gate = router.clients
    price = gate.price("openai", "gpt-4o")
    before = after = 0
    cpu = 0.0
    with RoundTrips() as trips:
        for _ in range(requests):
            start, sent = time.process_time(), trips.sent
            caller = gate.verify(key, confirm=False)
            ticket = gate.admit(caller, price=price, body_bytes=2000, max_output=500)
            middle = trips.sent
            gate.settle(ticket, provider="openai", key="key-0", model="gpt-4o", tokens=TOKENS)
            cpu += time.process_time() - start
            before, after = before + middle - sent, after + trips.sent - middle
    return cpu / requests * 1e6, before / requests, after / requests


def measure(requests: int = 2000, rounds: int = 5) -> dict[str, dict[str, float]]:
    """Median CPU µs and round trips per request, per store and key kind."""
    server = RedisServer()
    try:
        urls = {"memory": "memory://", "state file": "sqlite:///"
                + tempfile.mkdtemp(prefix="keyrelay-bench-clients-") + "/state.db",
                "redis": server.url}  # fmt: skip
        figures: dict[str, dict[str, float]] = {}
        for store, url in urls.items():
            router = Router(RoutingConfig(providers=(), state_url=url))
            made = router.clients.store
            keys = {"no limits": add_client(made, "", "open", Limits())[0],
                    "every limit": add_client(made, "", "all", LIMITED)[0]}  # fmt: skip
            for kind, key in keys.items():
                _per_request(router, key, requests // 10)  # warm up
                runs = [_per_request(router, key, requests) for _ in range(rounds)]
                figures[f"{store}, {kind}"] = {
                    "cpu_us": statistics.median(r[0] for r in runs),
                    "round_trips_before": statistics.median(r[1] for r in runs),
                    "round_trips_after": statistics.median(r[2] for r in runs),
                }
            router.close()
        return figures
    finally:
        server.stop()


def report(figures: dict[str, dict[str, float]]) -> list[str]:
    """The figures as a markdown table."""
    lines = ["| store, key | CPU µs/request (verify + admit + settle) "
             "| Redis round trips before the upstream (verify + admit) | after it (settle) |",
             "|---|---|---|---|"]  # fmt: skip
    for name, row in figures.items():
        redis_row = name.startswith("redis")
        before = f"{row['round_trips_before']:.1f}" if redis_row else "-"
        after = f"{row['round_trips_after']:.1f}" if redis_row else "-"
        lines.append(f"| {name} | {row['cpu_us']:.0f} | {before} | {after} |")
    return lines


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print("\n".join(report(measure(count))))
