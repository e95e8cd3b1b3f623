"""CPU per request of each dialect's path: ``python -m bench.dialects [ROUNDS] [SECONDS]``.

One keyrelay (gevent, 2 workers, the shipped defaults otherwise) in front of the nginx
fake upstream, which answers chat completions, Messages and Responses alike. Five loads
take turns, round after round, at 10 connections: chat completions, Messages and
Responses sent natively (to an ``anthropic`` and an ``openai`` provider), and Messages
and Responses translated (to a chat-only provider). Each figure is the workers' CPU per
request, median over rounds, and its ratio to chat completions' in the same rounds.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from dataclasses import replace
from typing import Any

from . import targets, wrk
from .figures import print_figures
from .targets import CLIENT_KEY, Target
from .upstream import NginxUpstream

PROMPT = "Say hello in one short sentence."
#: (name, path, body) of each load.
LOADS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("chat completions", "/v1/chat/completions",
     {"model": "fake/fake-model", "messages": [{"role": "user", "content": PROMPT}],
      "max_tokens": 32}),
    ("messages native", "/v1/messages",
     {"model": "anthropic/claude-bench", "max_tokens": 32,
      "messages": [{"role": "user", "content": PROMPT}]}),
    ("responses native", "/v1/responses",
     {"model": "openai/gpt-bench", "input": PROMPT, "max_output_tokens": 32}),
    ("messages translated", "/v1/messages",
     {"model": "fake/fake-model", "max_tokens": 32,
      "messages": [{"role": "user", "content": PROMPT}]}),
    ("responses translated", "/v1/responses",
     {"model": "fake/fake-model", "input": PROMPT, "max_output_tokens": 32}),
)  # fmt: skip
HEADERS = {"Authorization": f"Bearer {CLIENT_KEY}", "anthropic-version": "2023-06-01"}


def gateway(upstream: NginxUpstream, state_dir: str) -> Target:
    """keyrelay with a chat provider, an anthropic and an openai one, all on ``upstream``."""
    return targets.keyrelay(
        upstream.base_url,
        worker_class="gevent",
        STATE_URL=f"sqlite:///{state_dir}/state.db",
        ANTHROPIC_API_KEY="sk-ant-bench-000000000000",
        ANTHROPIC_API_BASE=upstream.base_url,
        ANTHROPIC_MODELS="claude-bench",
        OPENAI_API_KEY="sk-openai-bench-000000000000",
        OPENAI_API_BASE=upstream.base_url,
        OPENAI_MODELS="gpt-bench",
    )


def measure(rounds: int, seconds: float, connections: int = 10) -> dict[str, Any]:
    """Each load's CPU per request (µs) and requests per second, per round."""
    upstream = NginxUpstream()
    server = None
    try:
        server = gateway(upstream, tempfile.mkdtemp(prefix="keyrelay-bench-dialects-"))
        base = server.url.rsplit("/v1/", 1)[0]
        for _, path, body in LOADS:  # warm up every path
            _load(server, base + path, body, 4, min(2.0, seconds))
        figures: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in LOADS}
        for round_ in range(rounds):
            turn = LOADS[round_ % len(LOADS) :] + LOADS[: round_ % len(LOADS)]
            for name, path, body in turn:
                figures[name].append(_load(server, base + path, body, connections, seconds))
        return summary(figures)
    finally:
        if server is not None:
            server.stop()
        upstream.stop()


def _load(
    server: Target, url: str, body: dict[str, Any], connections: int, seconds: float
) -> dict[str, float]:
    before = targets.cpu_seconds(server)
    result = wrk.run(url, body, connections=connections, seconds=seconds, headers=HEADERS)
    spent = targets.cpu_seconds(server) - before
    result = replace(result, cpu_us_per_request=spent / max(1, result.requests) * 1e6)
    return {
        "cpu_us": result.cpu_us_per_request or 0.0,
        "rps": result.requests_per_second,
        "errors": float(result.errors),
    }


def summary(figures: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    """Medians per load, and each load's CPU over chat completions' (per round, median)."""
    chat = figures["chat completions"]
    out: dict[str, Any] = {}
    for name, rounds in figures.items():
        ratios = [
            r["cpu_us"] / c["cpu_us"] for r, c in zip(rounds, chat, strict=True) if c["cpu_us"]
        ]
        out[name] = {
            "cpu_us": statistics.median(r["cpu_us"] for r in rounds),
            "rps": statistics.median(r["rps"] for r in rounds),
            "errors": sum(r["errors"] for r in rounds),
            "vs_chat": statistics.median(ratios) if ratios else None,
            "rounds": rounds,
        }
    return out


def report(data: dict[str, Any]) -> list[str]:
    """The figures as a markdown table."""
    lines = [
        "| path | CPU µs/request | vs chat completions | req/s | errors |",
        "|---|---|---|---|---|",
    ]
    for name, row in data.items():
        ratio = f"{row['vs_chat']:.2f}x" if row["vs_chat"] else "-"
        lines.append(
            f"| {name} | {row['cpu_us']:.0f} | {ratio} | {row['rps']:.0f} | {row['errors']:.0f} |"
        )
    return lines


def main(argv: list[str]) -> None:
    """Measure and print the table and the raw figures."""
    print_figures(measure, report, argv)


if __name__ == "__main__":
    main(sys.argv[1:])
