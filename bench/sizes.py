"""What size costs, per dialect: ``python -m bench.sizes [ROUNDS] [SECONDS]``.

One keyrelay with the shipped defaults (gevent, 2 workers, the state file, the shipped
logging) in front of an nginx that answers every dialect. For each path (chat
completions; Messages and Responses sent natively; Messages and Responses translated to
chat) and each size (1, 10, 100 and 1,000 KB), keyrelay and the direct path (wrk
straight at nginx, the same body) take turns at concurrency 1, round after round; the
overhead is keyrelay's p50 minus the direct p50 of the same round, and the added time
per KB is the slope from 1 to 1,000 KB. Requests carry that many messages of about
1 KB; answers (the second table) carry that much text in one message, from a small
request.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from . import streams, targets, wrk
from .dialects import HEADERS
from .figures import print_figures
from .scaling import MESSAGE
from .streams import StreamUpstream
from .targets import Target
from .upstream import (
    COMPLETION,
    RESPONSE,
    answering_server,
    free_port,
    start_nginx,
    wait_until_answers,
)
from .upstream import MESSAGE as MESSAGE_ANSWER

SIZES_KB = (1, 10, 100, 1000)
#: (name, path, provider/model prefix, dialect of the body).
PATHS: tuple[tuple[str, str, str, str], ...] = (
    ("chat completions", "/v1/chat/completions", "fake/fake-model", "chat"),
    ("messages native", "/v1/messages", "anthropic/claude-bench", "messages"),
    ("responses native", "/v1/responses", "openai/gpt-bench", "responses"),
    ("messages translated", "/v1/messages", "fake/fake-model", "messages"),
    ("responses translated", "/v1/responses", "fake/fake-model", "responses"),
)


def sized_request(dialect: str, model: str, kb: int) -> dict[str, Any]:
    """A request of ``kb`` turns of about 1 KB each, in ``dialect``."""
    roles = [("user", "assistant")[i % 2] for i in range(kb - 1)] + ["user"]
    turns = [{"role": role, "content": MESSAGE} for role in roles]
    if dialect == "chat":
        return {"model": model, "messages": turns, "max_tokens": 32}
    if dialect == "messages":
        return {"model": model, "messages": turns, "max_tokens": 32}
    return {"model": model, "input": turns, "max_output_tokens": 32}


def small_request(dialect: str, model: str) -> dict[str, Any]:
    """A one-turn request (for the answer-size table)."""
    return sized_request(dialect, model, 1)


def _answer(template: str, old: str, kb: int) -> str:
    text = (MESSAGE * (kb + 1))[: kb * 1000]
    return template.replace(old, text)


class SizedUpstream:
    """nginx answering each dialect at ``/v1/...``, and with ``kb`` KB of text at
    ``/a<kb>/v1/...``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="keyrelay-bench-sizes-"))
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        hello = "Hello from the benchmark upstream."
        locations = []
        for kb in SIZES_KB:  # files (nginx's inline answers stop at 4 KB), served to POSTs
            for path, template in (
                ("chat/completions", COMPLETION),
                ("messages", MESSAGE_ANSWER),
                ("responses", RESPONSE),
            ):
                file = self.dir / "answers" / f"a{kb}" / path
                file.parent.mkdir(parents=True, exist_ok=True)
                file.write_text(_answer(template, hello, kb))
            locations.append(
                f"location /a{kb}/v1/ {{ default_type application/json; "
                f"alias {self.dir}/answers/a{kb}/; error_page 405 =200 $uri; }}"
            )
        for path, template in (
            ("chat/completions", COMPLETION),
            ("messages", MESSAGE_ANSWER),
            ("responses", RESPONSE),
        ):
            locations.append(
                f"location = /v1/{path} {{ default_type application/json; "
                f"return 200 '{template}'; }}"
            )
        body = "\n".join(locations)
        self.process = start_nginx(self.dir, answering_server(self.port, body))
        url = self.base_url + "/chat/completions"
        wait_until_answers(lambda: _answers(url), self.process, "nginx")

    def answers_url(self, kb: int) -> str:
        """The base URL whose answers carry ``kb`` KB of text."""
        return f"http://127.0.0.1:{self.port}/a{kb}/v1"

    def stop(self) -> None:
        """Stop nginx."""
        self.process.terminate()
        self.process.wait(timeout=10)


def _answers(url: str) -> bool:
    return requests.post(url, json={}, timeout=1).ok


def gateway(upstream: SizedUpstream, state_dir: str) -> Target:
    """keyrelay (shipped defaults) with chat, anthropic and openai providers, and one chat,
    one anthropic and one openai provider per answer size."""
    env: dict[str, str] = {
        "STATE_URL": f"sqlite:///{state_dir}/state.db",
        "ANTHROPIC_API_KEY": "sk-ant-bench-000000000000",
        "ANTHROPIC_API_BASE": upstream.base_url,
        "ANTHROPIC_MODELS": "claude-bench",
        "OPENAI_API_KEY": "sk-openai-bench-000000000000",
        "OPENAI_API_BASE": upstream.base_url,
        "OPENAI_MODELS": "gpt-bench",
        "MAX_REQUEST_BODY_BYTES": str(8 * 1024 * 1024),
    }
    for kb in SIZES_KB:
        for name, dialects in (("chat", "chat"), ("msg", "messages"), ("resp", "responses")):
            prefix = f"A{kb}{name.upper()}"
            env[f"{prefix}_API_BASE"] = upstream.answers_url(kb)
            env[f"{prefix}_API_KEY"] = f"sk-bench-{name}-{kb:04d}-000000000000"
            env[f"{prefix}_MODELS"] = "fake-model"
            env[f"{prefix}_DIALECTS"] = dialects
    return targets.keyrelay(
        upstream.base_url, worker_class="gevent", shipped_logging=True, extra_env=env
    )


def _p50(url: str, body: dict[str, Any], seconds: float) -> float:
    return wrk.run(url, body, connections=1, seconds=seconds, headers=HEADERS).p50_ms


def _pair(
    server: str, direct: str, body: dict[str, Any], direct_body: dict[str, Any], seconds: float
) -> float:
    """keyrelay's p50 minus the direct p50, measured one after the other."""
    return _p50(server, body, seconds) - _p50(direct, direct_body, seconds)


def measure(rounds: int, seconds: float) -> dict[str, Any]:
    """Overhead (ms) per path and size, for requests and for answers, medians over rounds."""
    upstream = SizedUpstream()
    server = None
    try:
        server = gateway(upstream, tempfile.mkdtemp(prefix="keyrelay-bench-sizes-state-"))
        base = server.url.rsplit("/v1/", 1)[0]
        cases = _cases(base, upstream)
        for _, url, body, direct, direct_body in cases:  # warm up every path
            _pair(url, direct, body, direct_body, 1.0)
        figures: dict[str, dict[str, dict[int, list[float]]]] = {"request": {}, "answer": {}}
        for round_ in range(rounds):
            turn = cases[round_ % len(cases) :] + cases[: round_ % len(cases)]
            for (side, name, kb), url, body, direct, direct_body in turn:
                spent = _pair(url, direct, body, direct_body, seconds)
                figures[side].setdefault(name, {}).setdefault(kb, []).append(spent)
        return summary(figures)
    finally:
        if server is not None:
            server.stop()
        upstream.stop()


Case = tuple[tuple[str, str, int], str, dict[str, Any], str, dict[str, Any]]


def _cases(base: str, upstream: SizedUpstream) -> list[Case]:
    """Every (side, path, size): keyrelay's URL and body, the direct URL and body."""
    cases: list[Case] = []
    for name, path, model, dialect in PATHS:
        bare = model.split("/", 1)[1]
        for kb in SIZES_KB:
            cases.append(
                (("request", name, kb), base + path, sized_request(dialect, model, kb),
                 upstream.base_url + _upstream_path(name, path),
                 sized_request(_upstream_dialect(name, dialect), bare, kb))
            )  # fmt: skip
            provider = f"a{kb}{_answer_provider(name)}"
            answers = upstream.answers_url(kb)
            cases.append(
                (("answer", name, kb), base + path,
                 small_request(dialect, f"{provider}/fake-model"),
                 answers + _upstream_path(name, path),
                 small_request(_upstream_dialect(name, dialect), "fake-model"))
            )  # fmt: skip
    return cases


def _answer_provider(name: str) -> str:
    if name == "messages native":
        return "msg"
    if name == "responses native":
        return "resp"
    return "chat"


def _upstream_dialect(name: str, dialect: str) -> str:
    return dialect if "native" in name or dialect == "chat" else "chat"


def _upstream_path(name: str, path: str) -> str:
    return path.removeprefix("/v1") if "native" in name or "chat" in name else "/chat/completions"


def summary(figures: dict[str, dict[str, dict[int, list[float]]]]) -> dict[str, Any]:
    """Median overhead per size, and the added µs per KB from the smallest to the largest."""
    out: dict[str, Any] = {}
    for side, paths in figures.items():
        out[side] = {}
        for name, sizes in paths.items():
            medians = {kb: statistics.median(spent) for kb, spent in sizes.items()}
            low, high = min(medians), max(medians)
            slope = (medians[high] - medians[low]) * 1000 / (high - low)
            out[side][name] = {"overhead_ms": medians, "us_per_kb": slope, "rounds": sizes}
    return out


def report(data: dict[str, Any]) -> list[str]:
    """Two markdown tables: overhead by request size, and by answer size."""
    lines: list[str] = []
    for side, title in (("request", "request KB"), ("answer", "answer KB")):
        head = " | ".join(f"{kb:,} KB" for kb in SIZES_KB)
        lines += ["", f"Overhead p50 ms by {title} (c=1, keyrelay minus direct):", "",
                  f"| path | {head} | added µs per KB |",
                  "|---|" + "---:|" * (len(SIZES_KB) + 1)]  # fmt: skip
        for name, row in data[side].items():
            cells = " | ".join(f"{row['overhead_ms'][kb]:.2f}" for kb in SIZES_KB)
            lines.append(f"| {name} | {cells} | {row['us_per_kb']:.2f} |")
    return lines


#: Prompt sizes (KB) of the first-token table.
PROMPTS_KB = (1, 10, 100, 1000)


def measure_first_token(rounds: int, streams_per_point: int = 20) -> dict[int, Any]:
    """First event of a streamed chat completion at each prompt size: keyrelay (shipped
    defaults) against the direct path, one stream at a time, interleaved; p50s, medians
    over rounds."""
    upstream = StreamUpstream(chunks=2, interval_ms=5)
    state = tempfile.mkdtemp(prefix="keyrelay-bench-first-token-")
    server = targets.keyrelay(upstream.base_url, worker_class="gevent", shipped_logging=True,
                              STATE_URL=f"sqlite:///{state}/state.db",
                              MAX_REQUEST_BODY_BYTES=str(8 * 1024 * 1024))  # fmt: skip
    direct = Target("direct", upstream.base_url + "/chat/completions", "fake-model", {})
    firsts: dict[str, dict[int, list[float]]] = {"direct": {}, "keyrelay": {}}
    try:
        for target in (direct, server):  # warm up: sessions, connections
            streams.run(target.url, target.headers, target.model, streams=8, at_once=2)
        for round_ in range(rounds):
            pair = [("direct", direct), ("keyrelay", server)]
            for kb in PROMPTS_KB:
                for name, target in pair if (round_ + kb) % 2 == 0 else pair[::-1]:
                    turns = sized_request("chat", target.model, kb)["messages"]
                    batch = streams.run(
                        target.url, target.headers, target.model,
                        streams=streams_per_point, at_once=1, messages=turns,
                    )  # fmt: skip
                    first = streams.summary(batch)["first_event_p50_ms"]
                    firsts[name].setdefault(kb, []).append(first)
    finally:
        server.stop()
        upstream.stop()
    out: dict[int, Any] = {}
    for kb in PROMPTS_KB:
        keyrelay = statistics.median(firsts["keyrelay"][kb])
        direct_ms = statistics.median(firsts["direct"][kb])
        out[kb] = {"direct_ms": direct_ms, "keyrelay_ms": keyrelay,
                   "added_ms": keyrelay - direct_ms}  # fmt: skip
    return out


def first_token_report(data: dict[Any, Any]) -> list[str]:
    """The first-token table."""
    lines = [
        "", "First event of a streamed chat completion by prompt size (c=1, p50):", "",
        "| prompt KB | direct ms | keyrelay ms | added ms |", "|---:|---:|---:|---:|",
    ]  # fmt: skip
    for kb, row in data.items():
        lines.append(f"| {int(kb):,} | {row['direct_ms']:.2f} | {row['keyrelay_ms']:.2f} "
                     f"| {row['added_ms']:.2f} |")  # fmt: skip
    return lines


def measure_all(rounds: int, seconds: float) -> dict[str, Any]:
    """The size tables and the first-token table."""
    return {**measure(rounds, seconds), "first_token": measure_first_token(rounds)}


def report_all(data: dict[str, Any]) -> list[str]:
    """Every table."""
    return report(data) + first_token_report(data["first_token"])


def main(argv: list[str]) -> None:
    """Measure and print the tables and the raw figures (``--first-token``: that table only)."""
    if argv[:1] == ["--first-token"]:
        rounds = int(argv[1]) if len(argv) > 1 else 3
        print("\n".join(first_token_report(measure_first_token(rounds))))
        return
    print_figures(measure_all, report_all, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
