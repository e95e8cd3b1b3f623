"""The real Codex CLI, pinned and installed by .ci/run from npm, headless through keyrelay.

``codex exec --json`` runs with the README's ``config.toml`` verbatim against a scripted
OpenAI-compatible upstream that plays an agent: offered Codex's tools, it calls one (its
``multi_agent_v1`` namespace, then its shell or its freeform ``apply_patch``), and once
the results come back it answers in text. Every outside connection Codex attempts goes
to a stand-in proxy that refuses it; the session must succeed all the same.
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

from app.dialects.responses.request import COMPACT_PROMPT
from bench.gunicorn import ROOT, Gunicorn
from tests.fakes.upstream import FakeUpstream, Hit, Reply, chunk

from .agents import RefusingProxy, refusing_proxy, two_tier_gateway
from .helpers import CLIENT_KEY, IN_CI

pytestmark = pytest.mark.integration

CODEX = ROOT / "tests" / "agents" / "node_modules" / ".bin" / "codex"
MODEL = "llama-3.3-70b-versatile"
ANSWER = "Done: hello.txt is written."
#: Codex's own sandbox, as a user runs it headless: commands may write in the workdir only.
SANDBOX = ["--sandbox", "workspace-write"]
PATCH = "*** Begin Patch\n*** Add File: hello.txt\n+hello\n*** End Patch\n"
README_CONFIG = """\
model = "{model}"
model_provider = "keyrelay"

[model_providers.keyrelay]
name = "keyrelay"
base_url = "{url}/v1"
env_key = "KEYRELAY_KEY"        # export KEYRELAY_KEY=<your PROXY_API_KEY>
wire_api = "responses"
"""
#: The README's other way: Codex's own OpenAI provider pointed at keyrelay (it tries a
#: websocket first, and compacts remotely with a ``compaction_trigger`` item).
OPENAI_CONFIG = """\
model = "{model}"
openai_base_url = "{url}/v1"        # with CODEX_API_KEY=<your PROXY_API_KEY>
"""


@pytest.fixture(scope="module")
def codex() -> Path:
    if not CODEX.exists():
        if IN_CI:
            pytest.fail(f"Codex CLI is not installed at {CODEX} (.ci/run installs it)")
        pytest.skip("Codex CLI is not installed (npm ci --prefix tests/agents)")
    return CODEX


def tool_names(hit: Hit) -> set[str]:
    return {t["function"]["name"] for t in (hit.body or {}).get("tools") or []}


def streamed_call(name: str, arguments: str, call_id: str) -> Reply:
    """A streamed tool call whose arguments come in three fragments."""
    third = max(1, len(arguments) // 3)
    head = {"index": 0, "id": call_id, "type": "function"}
    pieces = [arguments[:third], arguments[third : 2 * third], arguments[2 * third :]]
    events = [chunk(MODEL, {"role": "assistant", "tool_calls": [
        {**head, "function": {"name": name, "arguments": pieces[0]}}]})]  # fmt: skip
    events += [
        chunk(MODEL, {"tool_calls": [{"index": 0, "function": {"arguments": p}}]})
        for p in pieces[1:]
    ]
    return Reply(events=[*events, chunk(MODEL, {}, "tool_calls")])


class CodexAgent:
    """The scripted upstream: calls a namespaced tool (if offered), then writes hello.txt
    with apply_patch (if offered) or the shell, then answers in text."""

    def __init__(self, first_prompt_tokens: int = 5) -> None:
        self.tool_results: list[str] = []
        #: The usage the first answer reports (a large one makes Codex compact).
        self.prompt_tokens = first_prompt_tokens

    def __call__(self, hit: Hit) -> Reply | None:
        if not hit.path.endswith("/chat/completions"):
            return None  # the model list: the fake's own
        reply = self._reply(hit)
        usage = {"prompt_tokens": self.prompt_tokens, "completion_tokens": 5}
        self.prompt_tokens = 5
        usage["total_tokens"] = usage["prompt_tokens"] + 5
        return Reply(events=[*reply.events, {**chunk(MODEL, {}), "choices": [], "usage": usage}])

    def _reply(self, hit: Hit) -> Reply:
        body = hit.body or {}
        messages = body.get("messages") or [{}]
        self.tool_results = [m.get("content") or "" for m in messages if m.get("role") == "tool"]
        names, done = tool_names(hit), len(self.tool_results)
        if not names:  # a compaction, or a title: plain text
            return Reply(events=[chunk(MODEL, {"role": "assistant", "content": "A summary."}),
                                 chunk(MODEL, {}, "stop")])  # fmt: skip
        steps = []
        if "multi_agent_v1__close_agent" in names:
            steps.append(("multi_agent_v1__close_agent", json.dumps({"target": "no-such-agent"})))
        if "apply_patch" in names:
            steps.append(("apply_patch", json.dumps({"input": PATCH})))
        else:
            steps.append(("exec_command", json.dumps({"cmd": "printf 'hello\\n' > hello.txt"})))
        if done < len(steps):
            return streamed_call(*steps[done], call_id=f"call_{done + 1}")
        return Reply(events=[chunk(MODEL, {"role": "assistant", "content": ANSWER}),
                             chunk(MODEL, {}, "stop")])  # fmt: skip


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    groq, backup = FakeUpstream([MODEL, "gpt-5.5"]), FakeUpstream([MODEL, "gpt-5.5"])
    groq.default = backup.default = CodexAgent()
    yield groq, backup
    groq.close()
    backup.close()


@pytest.fixture
def gateway(upstreams: tuple[FakeUpstream, FakeUpstream]) -> Iterator[Gunicorn]:
    server = two_tier_gateway(*upstreams)
    yield server
    server.stop()


def run_codex(
    codex: Path,
    gateway: Gunicorn,
    proxy: RefusingProxy,
    model: str,
    extra: str = "",
    template: str = README_CONFIG,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """``codex exec --json`` with the README's config in a home and workdir of its own."""
    home, workdir = (Path(tempfile.mkdtemp(prefix=p)) for p in ("keyrelay-codex-", "codex-work-"))
    (home / ".codex").mkdir()
    config = template.format(model=model, url=gateway.url)
    (home / ".codex" / "config.toml").write_text(extra + config)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "KEYRELAY_KEY": CLIENT_KEY,
        "CODEX_API_KEY": CLIENT_KEY,
        "HTTPS_PROXY": proxy.url,
        "HTTP_PROXY": proxy.url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    command = [str(codex), "exec", "--json", "--skip-git-repo-check"]
    command += [*SANDBOX, "Create hello.txt saying hello"]
    run = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=180, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return run, workdir


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def final_message(found: list[dict[str, Any]]) -> str | None:
    messages = [
        e["item"]["text"]
        for e in found
        if e.get("type") == "item.completed" and e["item"].get("type") == "agent_message"
    ]
    return messages[-1] if messages else None


def turns(fake: FakeUpstream) -> list[Hit]:
    return [h for h in fake.hits if h.path.endswith("/chat/completions")]


def test_codex_prints_a_plain_answer(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    groq, _ = upstreams
    words = ["Hello", " from", " keyrelay."]
    groq.default = lambda hit: (
        Reply(events=[chunk(MODEL, {"content": w}) for w in words] + [chunk(MODEL, {}, "stop")])
        if hit.path.endswith("/chat/completions")
        else None
    )
    run, _ = run_codex(codex, gateway, refusing_proxy, f"groq/{MODEL}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert final_message(events(run.stdout)) == "Hello from keyrelay."


def test_codex_runs_a_tool_session_with_its_namespace_and_shell(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    run, workdir = run_codex(codex, gateway, refusing_proxy, f"groq/{MODEL}")
    found = events(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert any(e.get("type") == "turn.completed" for e in found), run.stdout[-3000:]
    assert final_message(found) == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    groq, _ = upstreams
    asked = turns(groq)
    first = asked[0].body or {}
    assert {"multi_agent_v1__close_agent", "exec_command"} <= tool_names(asked[0])
    assert "web_search" not in json.dumps(first.get("tools"))  # a built-in: left out
    assert "prompt_cache_key" not in first and "client_metadata" not in json.dumps(first)
    # Codex ran the namespaced call as its own tool (it answers "unsupported call" otherwise)
    results = [m["content"] for m in asked[-1].body["messages"] if m["role"] == "tool"]
    assert len(results) == 2 and "unsupported call" not in results[0], results


def test_codex_with_an_openai_model_name_edits_with_its_freeform_apply_patch(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    run, workdir = run_codex(codex, gateway, refusing_proxy, "gpt-5.5")
    found = events(run.stdout)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert final_message(found) == ANSWER, run.stdout[-3000:]
    assert (workdir / "hello.txt").read_text() == "hello\n"
    groq, _ = upstreams
    first = turns(groq)[0]
    assert "apply_patch" in tool_names(first)
    assert not {"tool_search", "web_search"} & tool_names(first)
    patched = [e for e in found if e.get("item", {}).get("type") == "file_change"]
    assert patched, run.stdout[-3000:]  # Codex applied the patch as its own edit


def test_codex_finishes_its_session_on_tier_two_after_a_429(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    groq, backup = upstreams
    agent, asked = CodexAgent(), []

    def then_rate_limited(hit: Hit) -> Reply | None:
        if not hit.path.endswith("/chat/completions"):
            return None
        asked.append(hit)
        if len(asked) == 1:
            return agent(hit)  # the first tool call from groq
        return Reply(status=429, headers={"Retry-After": "60"})

    groq.default = then_rate_limited
    run, workdir = run_codex(codex, gateway, refusing_proxy, f"groq/{MODEL}")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert final_message(events(run.stdout)) == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    assert turns(backup)  # tier 2 answered the rest of the session


def test_codex_compacts_a_long_session_and_carries_on(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    groq, _ = upstreams
    groq.default = CodexAgent(first_prompt_tokens=50_000)  # over the limit: Codex compacts
    limit = "model_auto_compact_token_limit = 2000\n"
    run, workdir = run_codex(codex, gateway, refusing_proxy, f"groq/{MODEL}", limit)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert final_message(events(run.stdout)) == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    asked = turns(groq)
    compacting = [i for i, h in enumerate(asked) if not tool_names(h)]
    assert compacting, "Codex never compacted"
    after = json.dumps([h.body for h in asked[compacting[0] + 1 :]])
    assert "A summary." in after  # the session went on from the summary


def test_codex_on_its_openai_provider_falls_back_from_websockets_and_compacts_remotely(
    codex: Path, gateway: Gunicorn, refusing_proxy: RefusingProxy,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:  # fmt: skip
    groq, _ = upstreams
    groq.default = CodexAgent(first_prompt_tokens=50_000)
    limit = "model_auto_compact_token_limit = 2000\n"
    run, workdir = run_codex(codex, gateway, refusing_proxy, "gpt-5.5", limit, OPENAI_CONFIG)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    found = events(run.stdout)
    assert final_message(found) == ANSWER, run.stdout[-3000:]
    assert not [e for e in found if e.get("type") == "error"], run.stdout[-3000:]  # no retries
    assert (workdir / "hello.txt").read_text() == "hello\n"
    lines = [json.loads(line) for line in gateway.logs().splitlines() if '"msg":"request"' in line]
    upgrades = [line for line in lines if line["method"] == "GET"]
    assert [u["status"] for u in upgrades] == [426]  # asked once, then plain HTTP
    asked = turns(groq)
    compacting = [h for h in asked if COMPACT_PROMPT in json.dumps(h.body)]
    assert compacting and not tool_names(compacting[0])
    later = json.dumps([h.body for h in asked[asked.index(compacting[0]) + 1 :]])
    assert "A summary." in later  # the compaction item came back as the summary


__all__ = ["refusing_proxy"]  # the fixture, imported for its tests
