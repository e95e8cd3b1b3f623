"""What client keys cost per request: ``python -m bench.clients [REQUESTS]``.

In one process, what a request with a client key goes through on an admitting route, on
each store (``memory://``, the state file and a real redis-server): the checks before
any upstream is called (``verify`` the key, recalling its record; ``admit`` it: one store
call that finds it, checks it, counts it and holds its reservation) and the settlement
after the answer (``settle``: one store call). Two keys: one with no limits (admission
only reads its record) and one with every limit and a budget. It reports the CPU of each
part per request (``time.process_time``) and, on Redis, their round trips per request
(each command or script call sent).
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


def _per_request(router: Router, key: str, requests: int) -> tuple[float, float, float, float]:
    """Per request as a chat request makes them: the CPU µs of the checks before the
    upstream is called (verify + admit) and of the settlement after it, and the Redis
    round trips of each."""
    gate = router.clients
    price = gate.price("openai", "gpt-4o")
    checks = settles = 0.0
    before = after = 0
    with RoundTrips() as trips:
        for _ in range(requests):
            start, sent = time.process_time(), trips.sent
            caller = gate.verify(key, confirm=False)
            ticket = gate.admit(caller, price=price, body_bytes=2000, max_output=500)
            middle, admitted = time.process_time(), trips.sent
            gate.settle(ticket, provider="openai", key="key-0", model="gpt-4o", tokens=TOKENS)
            checks, settles = checks + middle - start, settles + time.process_time() - middle
            before, after = before + admitted - sent, after + trips.sent - admitted
    return (checks / requests * 1e6, settles / requests * 1e6, before / requests,
            after / requests)  # fmt: skip


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
                    "checks_us": statistics.median(r[0] for r in runs),
                    "settle_us": statistics.median(r[1] for r in runs),
                    "round_trips_before": statistics.median(r[2] for r in runs),
                    "round_trips_after": statistics.median(r[3] for r in runs),
                }
            router.close()
        return figures
    finally:
        server.stop()


def report(figures: dict[str, dict[str, float]]) -> list[str]:
    """The figures as a markdown table."""
    lines = ["| store, key | CPU µs: checks (verify + admit) | settle | Redis round trips: "
             "checks | settle |", "|---|---|---|---|---|"]  # fmt: skip
    for name, row in figures.items():
        redis_row = name.startswith("redis")
        before = f"{row['round_trips_before']:.1f}" if redis_row else "-"
        after = f"{row['round_trips_after']:.1f}" if redis_row else "-"
        lines.append(f"| {name} | {row['checks_us']:.0f} | {row['settle_us']:.0f} "
                     f"| {before} | {after} |")  # fmt: skip
    return lines


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    print("\n".join(report(measure(count))))
