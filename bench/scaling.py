"""Scaling curves: overhead against the number of keys, of providers, and the request size.

Each curve point is a keyrelay (gthread, 2 workers) configured for it; the direct path
is measured in the same rounds, interleaved, and overhead is keyrelay's p50 minus the
direct p50 at concurrency 1 (one request at a time: the cost of a request, without
queueing). Throughput at concurrency 10 shows the same cost under load.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from typing import Any

from . import targets, wrk
from .targets import Target
from .upstream import NginxUpstream

KEY_COUNTS = (1, 100, 10_000)
PROVIDER_COUNTS = (1, 10, 50)
#: Request sizes in KB: that many messages of about 1 KB each.
SIZES_KB = (1, 10, 100, 1000)
MESSAGE = "The quick brown fox jumps over the lazy dog. " * 22  # 990 characters


def keys_env(count: int) -> dict[str, str]:
    """One provider with ``count`` keys, as ``FAKE_API_KEY_<n>`` variables."""
    env = {"FAKE_API_KEY": ""}
    env.update({f"FAKE_API_KEY_{i}": f"sk-bench-key-{i:06d}-0000000000" for i in range(count)})
    return env


def providers_env(count: int, upstream_url: str) -> dict[str, str]:
    """``count`` providers in one tier serving the same model (fake plus count - 1 more)."""
    env: dict[str, str] = {}
    for i in range(1, count):
        env[f"BENCH{i}_API_BASE"] = upstream_url
        env[f"BENCH{i}_API_KEY"] = f"sk-bench-provider-{i:03d}-000000000"
        env[f"BENCH{i}_MODELS"] = "fake-model"
    return env


def sized_body(model: str, kb: int) -> dict[str, Any]:
    """A chat request with ``kb`` messages of about 1 KB each."""
    roles = ("user", "assistant")
    messages = [{"role": roles[i % 2], "content": MESSAGE} for i in range(kb - 1)]
    messages.append({"role": "user", "content": MESSAGE})
    return {"model": model, "messages": messages, "max_tokens": 32}


def _point(
    direct: Target,
    proxy: Target,
    make_body: Callable[[str], dict[str, Any]],
    rounds: int,
    seconds: float,
) -> dict[str, Any]:
    """Interleaved direct and proxy runs at concurrency 1 and 10; medians over rounds."""
    runs: dict[str, list[wrk.WrkResult]] = {"direct": [], "proxy": [], "proxy_c10": []}

    def load(target: Target, connections: int) -> wrk.WrkResult:
        return wrk.run(
            target.url,
            make_body(target.model),
            connections=connections,
            seconds=seconds,
            headers=target.headers,
        )

    for round_ in range(rounds):
        pair = [(direct, "direct"), (proxy, "proxy")]
        for target, name in pair if round_ % 2 == 0 else pair[::-1]:
            runs[name].append(load(target, 1))
        runs["proxy_c10"].append(load(proxy, 10))

    def med(name: str, field: str) -> float:
        return float(statistics.median(getattr(r, field) for r in runs[name]))

    return {
        "direct_p50_ms": med("direct", "p50_ms"),
        "p50_ms": med("proxy", "p50_ms"),
        "p99_ms": med("proxy", "p99_ms"),
        "overhead_p50_ms": med("proxy", "p50_ms") - med("direct", "p50_ms"),
        "rps_c10": med("proxy_c10", "requests_per_second"),
        "errors": sum(r.errors for rs in runs.values() for r in rs),
        "runs": {name: [asdict(r) for r in rs] for name, rs in runs.items()},
    }


def measure(upstream: NginxUpstream, rounds: int, seconds: float) -> dict[str, Any]:
    """All three curves."""
    direct = targets.direct(upstream.base_url)
    small = partial(sized_body, kb=1)
    figures: dict[str, Any] = {"keys": {}, "providers": {}, "size_kb": {}}
    for count in KEY_COUNTS:
        proxy = targets.keyrelay(
            upstream.base_url, worker_class="gthread", extra_env=keys_env(count)
        )
        try:
            figures["keys"][count] = _point(direct, proxy, small, rounds, seconds)
        finally:
            proxy.stop()
    for count in PROVIDER_COUNTS:
        proxy = targets.keyrelay(
            upstream.base_url,
            worker_class="gthread",
            extra_env=providers_env(count, upstream.base_url),
        )
        proxy.model = "fake-model"  # a bare model: every provider serving it is in the chain
        try:
            figures["providers"][count] = _point(direct, proxy, small, rounds, seconds)
        finally:
            proxy.stop()
    proxy = targets.keyrelay(upstream.base_url, worker_class="gthread")
    try:
        for kb in SIZES_KB:
            figures["size_kb"][kb] = _point(
                direct, proxy, partial(sized_body, kb=kb), rounds, seconds
            )
    finally:
        proxy.stop()
    return figures


def report(figures: dict[str, Any]) -> list[str]:
    """The scaling tables, in markdown."""
    lines = [
        "",
        "Scaling (keyrelay gthread, 2 workers; overhead = p50 minus direct p50 at c=1, "
        "interleaved):",
    ]
    for key, title in (("keys", "keys"), ("providers", "providers in the tier")):
        rows = figures[key]
        base = rows[min(rows, key=int)]["overhead_p50_ms"]
        lines += [
            "",
            f"| {title} | p50 ms | overhead p50 ms | vs first row | req/s at c=10 | errors |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for count, row in sorted(rows.items(), key=lambda item: int(item[0])):
            lines.append(
                f"| {int(count):,} | {row['p50_ms']:.2f} | {row['overhead_p50_ms']:.2f} "
                f"| {row['overhead_p50_ms'] / base:.2f}x | {row['rps_c10']:,.0f} "
                f"| {row['errors']} |"
            )
    sizes = figures["size_kb"]
    lines += [
        "",
        "| request KB | direct p50 ms | keyrelay p50 ms | overhead p50 ms "
        "| added per KB since previous row µs | req/s at c=10 | errors |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: tuple[int, float] | None = None
    for kb, row in sorted(sizes.items(), key=lambda item: int(item[0])):
        overhead = row["overhead_p50_ms"]
        marginal = (
            f"{(overhead - previous[1]) * 1000 / (int(kb) - previous[0]):.2f}" if previous else ""
        )
        previous = (int(kb), overhead)
        lines.append(
            f"| {int(kb):,} | {row['direct_p50_ms']:.2f} | {row['p50_ms']:.2f} "
            f"| {overhead:.2f} | {marginal} | {row['rps_c10']:,.0f} | {row['errors']} |"
        )
    return lines
