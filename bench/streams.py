"""Streaming figures: time to first event, delay added between events, many open streams."""

from __future__ import annotations

import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests

from .upstream import free_port, wait_until_answers


class StreamUpstream:
    """The streaming fake upstream, in its own process."""

    def __init__(self, chunks: int, interval_ms: float) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.stream_upstream",
                "--port",
                str(self.port),
                "--chunks",
                str(chunks),
                "--interval-ms",
                str(interval_ms),
            ],
        )
        url = self.base_url + "/chat/completions"

        def answers() -> bool:
            requests.post(url, json={}, timeout=5).close()
            return True

        wait_until_answers(answers, self.process, "the streaming upstream")

    def stop(self) -> None:
        """Stop the process."""
        self.process.terminate()
        self.process.wait(timeout=10)


@dataclass
class StreamStats:
    """What a batch of streams saw."""

    first_event_ms: list[float] = field(default_factory=list)
    gaps_ms: list[float] = field(default_factory=list)
    completed: int = 0
    failed: int = 0


async def _one(url: str, headers: dict[str, str], body: bytes, stats: StreamStats) -> None:
    parts = urlsplit(url)
    try:
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=2**20)
    except OSError:
        stats.failed += 1
        return
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.hostname}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        f"Connection: close\r\n{extra}\r\n"
    ).encode() + body
    started = time.perf_counter()
    writer.write(request)
    arrivals: list[float] = []
    done = False
    try:
        while True:
            data = await asyncio.wait_for(reader.read(65536), timeout=60)
            if not data:
                break
            now = time.perf_counter()
            arrivals += [now] * data.count(b"data: {")
            done = done or b"[DONE]" in data
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()
    if not done or not arrivals:
        stats.failed += 1
        return
    stats.completed += 1
    stats.first_event_ms.append((arrivals[0] - started) * 1000)
    stats.gaps_ms += [(b - a) * 1000 for a, b in itertools.pairwise(arrivals)]


def run(
    url: str,
    headers: dict[str, str],
    model: str,
    *,
    streams: int,
    at_once: int,
    messages: list[dict[str, Any]] | None = None,
) -> StreamStats:
    """Open ``streams`` streams, ``at_once`` of them concurrently, and collect their timings
    (``messages``: the prompt, one short user turn by default)."""
    prompt = messages or [{"role": "user", "content": "Count."}]
    body = json.dumps({"model": model, "stream": True, "messages": prompt}).encode()
    stats = StreamStats()

    async def main() -> None:
        gate = asyncio.Semaphore(at_once)

        async def limited() -> None:
            async with gate:
                await _one(url, headers, body, stats)

        await asyncio.gather(*(limited() for _ in range(streams)))

    asyncio.run(main())
    return stats


def median(values: list[float]) -> float:
    """The median, 0 for no values."""
    return statistics.median(values) if values else 0.0


def summary(stats: StreamStats) -> dict[str, Any]:
    """Medians and p99 of the timings."""

    def p99(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0

    return {
        "completed": stats.completed,
        "failed": stats.failed,
        "first_event_p50_ms": statistics.median(stats.first_event_ms)
        if stats.first_event_ms
        else 0.0,
        "first_event_p99_ms": p99(stats.first_event_ms),
        "gap_p50_ms": median(stats.gaps_ms),
        "gap_p99_ms": p99(stats.gaps_ms),
    }
