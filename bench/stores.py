"""The state store as a benchmark dimension: keyrelay (gevent) on memory://, the SQLite
default and Redis (a local redis-server), in the same run and harness as the rest."""

from __future__ import annotations

import re
import statistics
from typing import Any

import requests

from bench import targets
from bench.redisserver import RedisServer, redis_binary
from bench.targets import Target

#: The report's rows: the target each store is measured on.
STORES = {
    "memory://": "keyrelay gevent memory://",
    "sqlite (default)": "keyrelay gevent",
    "redis://": "keyrelay gevent redis://",
}


def start(upstream_url: str) -> tuple[list[Target], RedisServer | None]:
    """The memory:// and Redis targets (the default one is started with the others)."""
    started = [
        _named(
            targets.keyrelay(upstream_url, worker_class="gevent", STATE_URL="memory://"),
            STORES["memory://"],
        )
    ]
    binary = redis_binary()
    if binary is None:
        print("no redis-server: the Redis store is not measured (apt-get install redis-server)")
        return started, None
    redis = RedisServer(binary=binary)
    started.append(
        _named(
            targets.keyrelay(upstream_url, worker_class="gevent", STATE_URL=redis.url),
            STORES["redis://"],
        )
    )
    return started, redis


#: keyrelay's histogram of key-state calls to the store, and the waits the report counts.
STORE_SECONDS = "keyrelay_state_store_seconds"
SLOW_CALLS = (0.01, 0.05)
#: One bucket line of that histogram in the text exposition format (the bench's own
#: environment has no prometheus_client to parse it).
_BUCKET = re.compile(STORE_SECONDS + r'_bucket\{[^}]*le="([^"]+)"[^}]*\}\s+(\S+)')


def waits(started: list[Target]) -> dict[str, dict[str, float]]:
    """Each shared store's key-state calls so far, from its target's ``/metrics``:
    how many, how many took longer than each of ``SLOW_CALLS``, and the slowest bucket."""
    found: dict[str, dict[str, float]] = {}
    for target in started:
        if target.name not in (STORES["sqlite (default)"], STORES["redis://"]):
            continue
        base = target.url.rsplit("/v1/", 1)[0]
        text = requests.get(base + "/metrics", headers=target.headers, timeout=10).text
        found[target.name] = _waits(text)
    return found


def _waits(text: str) -> dict[str, float]:
    buckets: dict[float, float] = {}
    for bound, value in _BUCKET.findall(text):
        buckets[float(bound)] = buckets.get(float(bound), 0.0) + float(value)
    total = buckets.get(float("inf"), 0.0)
    summary = {"calls": total}
    for limit in SLOW_CALLS:
        summary[f"over_{limit}"] = total - buckets.get(limit, total)
    below = [b for b, count in sorted(buckets.items()) if count >= total]
    summary["slowest_under"] = below[0] if below else float("inf")
    return summary


def _named(target: Target, name: str) -> Target:
    target.name = name
    return target


def report(runs: dict[str, Any]) -> list[str]:
    """One row per store and concurrency; CPU per request against memory://."""
    present = {store: name for store, name in STORES.items() if name in runs}
    if len(present) < 2:
        return []
    levels = sorted({int(c) for c in runs[STORES["sqlite (default)"]]})
    lines = [
        "",
        "State store (keyrelay gevent, 2 workers; `STATE_URL`):",
        "",
        "| store | concurrency | req/s | p50 ms | p99 ms | max ms | worker CPU µs/req "
        "| CPU over memory:// µs |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for c in levels:
        base = _median(runs[STORES["memory://"]][c], "cpu_us_per_request")
        for store, name in present.items():
            results = runs[name][c]
            cpu = _median(results, "cpu_us_per_request")
            over = ""
            if cpu is not None and base is not None and store != "memory://":
                over = f"{cpu - base:+.0f}"
            lines.append(
                f"| {store} | {c} | {_median(results, 'requests_per_second'):,.0f} | "
                f"{_median(results, 'p50_ms'):.2f} | {_median(results, 'p99_ms'):.2f} | "
                f"{max(r.get('max_ms', 0.0) for r in results):.1f} | "
                f"{'' if cpu is None else f'{cpu:,.0f}'} | {over} |"
            )
    return lines


def waits_report(found: dict[str, dict[str, float]] | None) -> list[str]:
    """How long key-state calls waited on each shared store, over the whole run."""
    if not found:
        return []
    lines = [
        "",
        f"Waits on the store (`{STORE_SECONDS}` over the whole run: warm-up and every round):",
        "",
        "| store | key-state calls | over 10 ms | over 50 ms | slowest call under |",
        "|---|---:|---:|---:|---:|",
    ]
    for store, name in STORES.items():
        if (w := found.get(name)) is not None:
            slowest = w["slowest_under"]
            lines.append(
                f"| {store} | {w['calls']:,.0f} | {w['over_0.01']:,.0f} | {w['over_0.05']:,.0f} "
                f"| {'> 250 ms' if slowest == float('inf') else f'{slowest * 1000:g} ms'} |"
            )
    return lines


def _median(results: list[dict[str, Any]], field: str) -> float | None:
    values = [r[field] for r in results if r.get(field) is not None]
    return float(statistics.median(values)) if values else None
