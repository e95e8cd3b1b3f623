"""Where a request's CPU goes: ``python -m bench.profile [--stream] [--messages N]``.

``--stores memory://,sqlite:////tmp/s.db,redis://127.0.0.1:6379/0`` compares the CPU
per request of state stores instead (no profile).

Calls keyrelay's WSGI app in-process (no gunicorn, no client sockets) against the nginx
fake upstream (or the streaming one), prints CPU microseconds per request, then profiles
the same requests with cProfile and prints the share of time per package and the top
functions. For a worker under real load, use py-spy instead:
``py-spy record --gil -f raw -p <worker pid>`` while ``make bench`` runs.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from app import create_app

from .scaling import sized_body
from .streams import StreamUpstream
from .upstream import NginxUpstream


def environ(body: bytes) -> dict[str, Any]:
    """A WSGI environ for one authenticated chat completion request."""
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/chat/completions",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_AUTHORIZATION": "Bearer bench",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.url_scheme": "http",
        "wsgi.version": (1, 0),
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.input_terminated": True,
    }


def caller(upstream_url: str, body: bytes, state_url: str | None = None) -> Callable[[], None]:
    """A function that sends one request through the app and reads the whole answer."""
    app = create_app(
        {
            "PROXY_API_KEY": "bench",
            "FAKE_API_BASE": upstream_url,
            "FAKE_API_KEY": "sk-bench-upstream-key-000000",
            "FAKE_MODELS": "fake-model",
            "LOG_LEVEL": "warning",
            # STATE_URL=sqlite:///path profiles the shared state store (default: memory://).
            "STATE_URL": state_url or os.environ.get("STATE_URL", "memory://"),
        }
    )

    def call() -> None:
        statuses: list[str] = []

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            statuses.append(status)
            return lambda data: None

        answer = app(environ(body), start_response)
        try:
            for _ in answer:
                pass
        finally:
            close = getattr(answer, "close", None)
            if close is not None:
                close()
        if not statuses[0].startswith("200"):
            raise RuntimeError(f"keyrelay answered {statuses[0]}")

    return call


def compare_stores(upstream_url: str, body: bytes, args: argparse.Namespace) -> None:
    """CPU per request with each STATE_URL: batches interleaved, so that the machine's drift
    falls on every store alike; medians over the batches."""
    urls = args.stores.split(",")
    calls = {url: caller(upstream_url, body, url) for url in urls}
    spent: dict[str, list[float]] = {url: [] for url in urls}
    batch = 200
    for call in calls.values():
        for _ in range(batch):
            call()
    for _ in range(max(1, args.requests // batch)):
        for url, call in calls.items():
            started = time.process_time()
            for _ in range(batch):
                call()
            spent[url].append((time.process_time() - started) / batch * 1e6)
    base = statistics.median(spent[urls[0]])
    for url in urls:
        median = statistics.median(spent[url])
        print(f"{url:<40} {median:6.0f} µs/request  ({median - base:+.0f} µs)")


def package(filename: str) -> str:
    """The package (or keyrelay module) a profiled function belongs to."""
    if match := re.search(r"site-packages/([^/]+)", filename):
        return match[1]
    if match := re.search(r"/(app|providers)/", filename):
        return f"keyrelay {match[1]}"
    return "builtins" if filename == "~" else f"stdlib {filename.rsplit('/', 1)[-1]}"


def main(argv: list[str] | None = None) -> None:
    """Measure, then profile."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stream", action="store_true", help="streamed requests (3 chunks)")
    parser.add_argument("--messages", type=int, default=1, help="messages of about 1 KB each")
    parser.add_argument("--requests", type=int, default=2000, help="requests per measurement")
    parser.add_argument("--top", type=int, default=30, help="functions to list")
    parser.add_argument(
        "--stores",
        help="comma list of STATE_URLs: CPU per request of each, interleaved, no profile",
    )
    args = parser.parse_args(argv)
    upstream: NginxUpstream | StreamUpstream = (
        StreamUpstream(chunks=3, interval_ms=0) if args.stream else NginxUpstream()
    )
    try:
        request = {**sized_body("fake/fake-model", args.messages), "stream": args.stream}
        if args.stores:
            compare_stores(upstream.base_url, json.dumps(request).encode(), args)
            return
        call = caller(upstream.base_url, json.dumps(request).encode())
        for _ in range(min(200, args.requests)):
            call()
        started = time.process_time()
        for _ in range(args.requests):
            call()
        spent = (time.process_time() - started) / args.requests * 1e6
        print(f"CPU per request, in-process: {spent:.0f} µs\n")
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            call()
        profile.disable()
        stats = pstats.Stats(profile)
        shares: Counter[str] = Counter()
        for (filename, _, _), (_, _, own, _, _) in stats.stats.items():  # type: ignore[attr-defined]
            shares[package(filename)] += own
        total = sum(shares.values())
        for name, own in shares.most_common(15):
            print(f"{100 * own / total:5.1f}%  {name}")
        print()
        stats.sort_stats("tottime").print_stats(args.top)
    finally:
        upstream.stop()


if __name__ == "__main__":
    main()
