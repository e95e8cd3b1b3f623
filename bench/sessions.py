"""Agent sessions against per-key prompt caches: ``python -m bench.sessions [ROUNDS] [SECONDS]``.

A fake upstream keeps a prompt cache per key, as providers do, in two models: *prefix*
(OpenAI's automatic caching: the longest prefix of the messages the same key saw within
``CACHE_TTL`` is cached) and *last turn* (Anthropic's breakpoints with their short
lookback: only the previous turn's whole prompt, if the same key saw it, else the system
prompt); the cached part is reported as ``prompt_tokens_details.cached_tokens``. Ten
agent sessions of twenty turns each run at once (each turn resends the conversation so
far: a 5 KB system prompt, then a 2 KB tool result and a short answer per turn) through
keyrelay (gevent, 2 workers, the state file) with four keys, three ways: today's
rotation (``SESSION_AFFINITY=false``), sessions named by ``X-Session-ID``, and sessions
known only by their stable prefix. It reports the cached share of prompt tokens after
each session's first turn, and how often a turn changed key. Then it measures what a
session costs per request: the workers' CPU per request for the same turn with and
without affinity, interleaved rounds (wrk, c=10, the nginx fake upstream).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from . import targets, wrk
from .figures import print_figures
from .targets import CLIENT_KEY
from .upstream import NginxUpstream

KEYS = ",".join(f"sk-bench-session-key-{n}-000000" for n in range(4))
SESSIONS, TURNS = 10, 20
#: A session's turn for the cost figures (a conversation past its first turn).
TURN_BODY = {
    "model": "fake/fake-model",
    "messages": [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Go on."},
    ],
}
CACHE_TTL = 300.0
TOOL_OUTPUT = "src/app.py:12: a line the tool printed\n" * 50
SYSTEM = "You are a coding agent. " + "Follow the repository's conventions. " * 140


class CachingUpstream:
    """An OpenAI-compatible fake that keeps a prompt cache per key (prefix digests)."""

    def __init__(self, *, last_turn: bool = False) -> None:
        #: The last-turn model: only the previous prompt (or the system prompt) can be hit.
        self.last_turn = last_turn
        self.seen: dict[str, dict[str, float]] = {}
        self.lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers.get("Authorization", "")[7:]
                data = json.dumps(fake.answer(key, body.get("messages") or [])).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def answer(self, key: str, messages: list[dict[str, Any]]) -> dict[str, Any]:
        """A completion whose usage says how much of the prompt this key had cached."""
        digests, sizes, running, size = [], [], hashlib.sha256(), 0
        for message in messages:
            text = json.dumps(message, sort_keys=True)
            running.update(text.encode())
            size += len(text) // 4
            digests.append(running.copy().hexdigest())
            sizes.append(size)
        now = time.monotonic()
        # Where a hit may be: any prefix, or (last turn) the previous prompt (the messages
        # before this turn's answer and question) and the system prompt.
        at = list(range(len(digests) - 2, -1, -1))
        if self.last_turn:
            at = [i for i in (len(digests) - 3, 0) if i >= 0]
        with self.lock:
            seen = self.seen.setdefault(key, {})
            cached = next(
                (sizes[i] for i in at if now - seen.get(digests[i], -CACHE_TTL) < CACHE_TTL), 0
            )
            for digest in digests:
                seen[digest] = now
        usage = {"prompt_tokens": size, "completion_tokens": 5, "total_tokens": size + 5,
                 "prompt_tokens_details": {"cached_tokens": cached}}  # fmt: skip
        message = {"role": "assistant", "content": "Done with this step."}
        return {"id": "chatcmpl-s", "object": "chat.completion", "created": 0,
                "model": "fake-model", "choices": [{"index": 0, "message": message,
                "finish_reason": "stop"}], "usage": usage, "key": key[-8:]}  # fmt: skip

    def stop(self) -> None:
        """Stop serving."""
        self.server.shutdown()
        self.server.server_close()


def run_sessions(url: str, *, named: bool) -> dict[str, float]:
    """Ten sessions of twenty turns at once; the cached share after the first turns and the
    share of turns that changed key."""

    def session(number: int) -> list[tuple[int, int, str]]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
        headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
        if named:
            headers["X-Session-ID"] = f"bench-session-{number}"
        turns = []
        with requests.Session() as http:
            for step in range(TURNS):
                said = f"Session {number}, step {step}: the tool printed\n" + TOOL_OUTPUT
                messages.append({"role": "user", "content": said})
                body = {"model": "fake/fake-model", "messages": messages}
                answer = http.post(url, json=body, headers=headers, timeout=30).json()
                usage = answer["usage"]
                turns.append((usage["prompt_tokens"], usage["prompt_tokens_details"]
                              ["cached_tokens"], answer.get("key", "")))  # fmt: skip
                messages.append(answer["choices"][0]["message"])
        return turns

    with ThreadPoolExecutor(SESSIONS) as pool:
        results = list(pool.map(session, range(SESSIONS)))
    later = [t for turns in results for t in turns[1:]]
    changes = sum(a[2] != b[2] for turns in results for a, b in itertools.pairwise(turns))
    return {
        "cached_share": sum(t[1] for t in later) / max(1, sum(t[0] for t in later)),
        "key_changes_per_turn": changes / (SESSIONS * (TURNS - 1)),
    }


def measure_sessions() -> dict[str, dict[str, float]]:
    """The three ways in both cache models, each with a fresh gateway and a cold upstream."""
    figures: dict[str, dict[str, float]] = {}
    ways = (("least recently used (today)", "false", False), ("sessions named (X-Session-ID)",
            "true", True), ("sessions by their stable prefix", "true", False))  # fmt: skip
    runs = [(f"{name}, {model}", affinity, named, model == "last turn")
            for model in ("prefix", "last turn") for name, affinity, named in ways]  # fmt: skip
    for name, affinity, named, last_turn in runs:
        upstream = CachingUpstream(last_turn=last_turn)
        folder = tempfile.mkdtemp(prefix="keyrelay-bench-sessions-")
        server = targets.keyrelay(upstream.base_url, worker_class="gevent", FAKE_API_KEY=KEYS,
                                  STATE_URL=f"sqlite:///{folder}/state.db",
                                  SESSION_AFFINITY=affinity)  # fmt: skip
        try:
            figures[name] = run_sessions(server.url, named=named)
        finally:
            server.stop()
            upstream.stop()
    return figures


def measure_cost(rounds: int, seconds: float) -> dict[str, float]:
    """CPU per request of a session's turn with affinity and without, interleaved."""
    upstream = NginxUpstream()
    started: dict[str, targets.Target] = {}
    body = TURN_BODY
    try:
        for affinity in ("true", "false"):
            folder = tempfile.mkdtemp(prefix="keyrelay-bench-cost-")
            started[affinity] = targets.keyrelay(
                upstream.base_url, worker_class="gevent", FAKE_API_KEY=KEYS,
                STATE_URL=f"sqlite:///{folder}/state.db", SESSION_AFFINITY=affinity,
            )  # fmt: skip
        headers = {"Authorization": f"Bearer {CLIENT_KEY}", "X-Session-ID": "bench-cost"}
        spent: dict[str, list[float]] = {"true": [], "false": []}
        for target in started.values():
            wrk.run(target.url, body, connections=4, seconds=2, headers=headers)
        for _ in range(rounds):
            for affinity, target in started.items():
                before = targets.cpu_seconds(target)
                result = wrk.run(target.url, body, connections=10, seconds=seconds,
                                 headers=headers)  # fmt: skip
                used = targets.cpu_seconds(target) - before
                spent[affinity].append(used / max(1, result.requests) * 1e6)
        on, off = (statistics.median(spent[a]) for a in ("true", "false"))
        added = statistics.median(a - b for a, b in zip(spent["true"], spent["false"], strict=True))
        return {"with_affinity_us": on, "without_us": off, "added_us": added}
    finally:
        for target in started.values():
            target.stop()
        upstream.stop()


def measure_in_process(rounds: int = 30, batch: int = 300) -> dict[str, float]:
    """The same turn through the WSGI app in this process (no gunicorn, no client sockets),
    with affinity and without: CPU per request, batches interleaved, median differences."""
    from app import create_app  # the project's app: only this measurement needs it here

    from .profile import environ

    upstream = NginxUpstream()
    raw = json.dumps(TURN_BODY).encode()

    def caller(affinity: str) -> Callable[[], None]:
        folder = tempfile.mkdtemp(prefix="keyrelay-bench-inprocess-")
        app = create_app({"PROXY_API_KEY": "bench", "FAKE_API_BASE": upstream.base_url,
                          "FAKE_API_KEY": KEYS, "FAKE_MODELS": "fake-model",
                          "LOG_LEVEL": "warning", "STATE_URL": f"sqlite:///{folder}/s.db",
                          "SESSION_AFFINITY": affinity})  # fmt: skip

        def call() -> None:
            environment = {**environ(raw), "HTTP_X_SESSION_ID": "bench-in-process"}
            answer = app(environment, lambda status, headers, exc=None: lambda data: None)
            for _ in answer:
                pass
            answer.close()  # type: ignore[attr-defined]

        return call

    try:
        calls = {affinity: caller(affinity) for affinity in ("true", "false")}
        spent: dict[str, list[float]] = {affinity: [] for affinity in calls}
        for call in calls.values():
            for _ in range(batch):
                call()
        for _ in range(rounds):
            for affinity, call in calls.items():
                started = time.process_time()
                for _ in range(batch):
                    call()
                spent[affinity].append((time.process_time() - started) / batch * 1e6)
        added = statistics.median(a - b for a, b in zip(spent["true"], spent["false"], strict=True))
        return {"with_affinity_us": statistics.median(spent["true"]),
                "without_us": statistics.median(spent["false"]), "added_us": added}  # fmt: skip
    finally:
        upstream.stop()


def report(data: dict[str, Any]) -> list[str]:
    """The figures as markdown."""
    lines = ["| rotation | cached share of prompt tokens after turn 1 | key changes per turn |",
             "|---|---|---|"]  # fmt: skip
    for name, row in data["sessions"].items():
        lines.append(f"| {name} | {row['cached_share']:.1%} | {row['key_changes_per_turn']:.2f} |")
    for name, where in (("cost", "under gunicorn"), ("in_process", "in-process")):
        cost = data[name]
        lines += ["", f"CPU per request of a session's turn, {where}: "
                  f"{cost['with_affinity_us']:.0f} µs with affinity, {cost['without_us']:.0f} µs "
                  f"without; added (median of rounds): {cost['added_us']:+.0f} µs."]  # fmt: skip
    return lines


def measure(rounds: int, seconds: float) -> dict[str, Any]:
    """Both measurements."""
    return {"sessions": measure_sessions(), "cost": measure_cost(rounds, seconds),
            "in_process": targets.in_project("bench.sessions", "measure_in_process",
                                             rounds=10 * rounds)}  # fmt: skip


def main(argv: list[str]) -> None:
    """Measure and print."""
    print_figures(measure, report, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
