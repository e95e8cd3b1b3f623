"""The real Claude Code, pinned and installed by .ci/run from npm, headless through keyrelay.

It runs with the README's settings verbatim and a model name it does not know, against a
scripted OpenAI-compatible upstream that plays an agent: asked with tools, it calls the
client's file-write tool; once the tool result comes back, it answers in text. Every
outside connection the client attempts goes to a stand-in proxy that refuses it, so no
test reaches the internet, and the session must succeed all the same.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.gunicorn import ROOT, Gunicorn
from tests.fakes.upstream import FakeUpstream, Hit, Reply, chunk, completion

from .agents import RefusingProxy, refusing_proxy, two_tier_gateway
from .helpers import CLIENT_KEY, IN_CI

pytestmark = pytest.mark.integration

AGENTS = ROOT / "tests" / "agents" / "node_modules"
CLAUDE = AGENTS / "@anthropic-ai" / "claude-code-linux-x64" / "claude"
MODEL = "llama-3.3-70b-versatile"
SMALL = "llama-3.1-8b-instant"
ANSWER = "Done: hello.txt is written."


@pytest.fixture(scope="module")
def claude() -> Path:
    if not CLAUDE.exists():
        if IN_CI:
            pytest.fail(f"Claude Code is not installed at {CLAUDE} (.ci/run installs it)")
        pytest.skip("Claude Code is not installed (npm ci --prefix tests/agents)")
    return CLAUDE


class Agent:
    """A scripted upstream: with the client's Write tool offered, it writes ``hello.txt``
    into ``workdir``; with that tool's result back (or no tools), it answers in text."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def __call__(self, hit: Hit) -> Reply:
        body = hit.body or {}
        messages = body.get("messages") or [{}]
        tools = {t["function"]["name"] for t in body.get("tools") or []}
        stream = bool(body.get("stream"))
        if "Write" in tools and messages[-1].get("role") != "tool":
            arguments = json.dumps(
                {"file_path": str(self.workdir / "hello.txt"), "content": "hello\n"}
            )
            call = {"index": 0, "id": "call_1", "type": "function"}
            half = len(arguments) // 2  # the arguments in two fragments, as upstreams stream
            first = {**call, "function": {"name": "Write", "arguments": arguments[:half]}}
            rest = {"index": 0, "function": {"arguments": arguments[half:]}}
            if stream:
                events = [
                    chunk(MODEL, {"role": "assistant", "tool_calls": [first]}),
                    chunk(MODEL, {"tool_calls": [rest]}),
                    chunk(MODEL, {}, "tool_calls"),
                ]
                return Reply(events=events)
            whole = completion(MODEL)
            message = {"role": "assistant", "content": None, "tool_calls": [
                {**call, "function": {"name": "Write", "arguments": arguments}}
            ]}  # fmt: skip
            whole["choices"][0].update(message=message, finish_reason="tool_calls")
            return Reply(body=whole)
        if stream:
            return Reply(events=[chunk(MODEL, {"role": "assistant", "content": ANSWER}),
                                 chunk(MODEL, {}, "stop")])  # fmt: skip
        return Reply(body=completion(MODEL, ANSWER))


@pytest.fixture
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="keyrelay-agent-"))


def readme_env(gateway: Gunicorn, proxy: RefusingProxy, home: Path) -> dict[str, str]:
    """The README's Claude Code settings, verbatim, in a home of the test's own."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway.url,
        "ANTHROPIC_AUTH_TOKEN": CLIENT_KEY,
        "ANTHROPIC_MODEL": f"groq/{MODEL}",
        "ANTHROPIC_SMALL_FAST_MODEL": f"groq/{SMALL}",
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
        "IS_SANDBOX": "1",
    }


def run_claude(
    claude: Path, env: dict[str, str], workdir: Path, prompt: str, output: str
) -> subprocess.CompletedProcess[str]:
    command = [str(claude), "-p", prompt, "--output-format", output, "--verbose"]
    command += ["--permission-mode", "acceptEdits"]
    return subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False
    )


def results(stdout: str) -> list[dict[str, Any]]:
    """The ``result`` messages of a json or stream-json run."""
    found = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith(("{", "[")):
            continue
        data = json.loads(line)
        for item in data if isinstance(data, list) else [data]:
            if item.get("type") == "result":
                found.append(item)
    return found


@pytest.fixture
def upstreams(workdir: Path) -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    groq, backup = FakeUpstream([MODEL, SMALL]), FakeUpstream([MODEL, SMALL])
    groq.default = backup.default = Agent(workdir)
    yield groq, backup
    groq.close()
    backup.close()


@pytest.fixture
def gateway(upstreams: tuple[FakeUpstream, FakeUpstream]) -> Iterator[Gunicorn]:
    server = two_tier_gateway(*upstreams)
    yield server
    server.stop()


def test_claude_code_prints_a_plain_answer(
    claude: Path,
    gateway: Gunicorn,
    refusing_proxy: RefusingProxy,
    workdir: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:
    groq, _ = upstreams
    words = ["Hello", " from", " keyrelay."]
    groq.default = lambda hit: (
        Reply(events=[chunk(MODEL, {"content": w}) for w in words] + [chunk(MODEL, {}, "stop")])
        if hit.path.endswith("/chat/completions") and (hit.body or {}).get("stream")
        else Reply(body=completion(MODEL, "".join(words)))
        if hit.path.endswith("/chat/completions")
        else None
    )
    home = Path(tempfile.mkdtemp(prefix="keyrelay-home-"))
    run = run_claude(claude, readme_env(gateway, refusing_proxy, home), workdir,
                     "Say hello", "json")  # fmt: skip
    found = results(run.stdout)
    assert run.returncode == 0 and found, run.stdout[-2000:] + run.stderr[-2000:]
    assert found[-1]["is_error"] is False and found[-1]["result"] == "Hello from keyrelay."


@pytest.mark.parametrize("output", ["json", "stream-json"])
def test_claude_code_writes_a_file_through_a_tool_session(
    claude: Path,
    gateway: Gunicorn,
    refusing_proxy: RefusingProxy,
    workdir: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
    output: str,
) -> None:
    home = Path(tempfile.mkdtemp(prefix="keyrelay-home-"))
    run = run_claude(claude, readme_env(gateway, refusing_proxy, home), workdir,
                     "Create hello.txt saying hello", output)  # fmt: skip
    found = results(run.stdout)
    assert run.returncode == 0 and found, run.stdout[-2000:] + run.stderr[-2000:]
    assert found[-1]["is_error"] is False and found[-1]["result"] == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    groq, _ = upstreams
    turns = [h for h in groq.hits if h.path.endswith("/chat/completions")]
    assert len(turns) >= 2  # the tool call, then the answer after its result
    first = turns[0].body or {}
    assert "system" in [m["role"] for m in first["messages"][1:]]  # its environment turn
    assert "user" not in first  # metadata.user_id (device and session ids) is not sent on
    assert "DeferredToolPlaceholder" not in json.dumps(first.get("tools"))


def test_claude_code_finishes_its_session_on_tier_two_after_a_429(
    claude: Path,
    gateway: Gunicorn,
    refusing_proxy: RefusingProxy,
    workdir: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:
    groq, backup = upstreams
    agent = Agent(workdir)
    asked = []

    def then_rate_limited(hit: Hit) -> Reply:
        asked.append(hit)
        if len(asked) == 1:
            return agent(hit)  # the first turn (the tool call) from groq
        return Reply(status=429, headers={"Retry-After": "60"})

    groq.default = then_rate_limited
    home = Path(tempfile.mkdtemp(prefix="keyrelay-home-"))
    run = run_claude(claude, readme_env(gateway, refusing_proxy, home), workdir,
                     "Create hello.txt saying hello", "stream-json")  # fmt: skip
    found = results(run.stdout)
    assert run.returncode == 0 and found, run.stdout[-2000:] + run.stderr[-2000:]
    assert found[-1]["is_error"] is False and found[-1]["result"] == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    assert [h for h in backup.hits if h.path.endswith("/chat/completions")]  # tier 2 answered


__all__ = ["refusing_proxy"]  # the fixture, imported for its tests
