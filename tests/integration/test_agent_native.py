"""The real Claude Code and Codex CLI (pinned, installed by .ci/run) through keyrelay to
native upstreams: Claude Code to an Anthropic-shaped one that speaks Messages, Codex to an
OpenAI-shaped one that speaks Responses. Each writes a file through its own tool, keeps
what only the native API takes, and finishes its session on a translated provider when
the native one fails."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.native import message, message_events, response_events, sse
from tests.fakes.upstream import FakeUpstream, Hit, Reply

from .agents import RefusingProxy, refusing_proxy
from .helpers import CLIENT_KEY, StartGateway
from .test_agent_clients import ANSWER, Agent, claude, readme_env, results, run_claude
from .test_codex_cli import PATCH, CodexAgent, codex, events, final_message, run_codex

pytestmark = pytest.mark.integration

CLAUDE = "claude-sonnet-4-5"
GPT = "gpt-5.5"  # a model Codex knows: its apply_patch is a freeform tool
#: Three keys: a session's turns must stay on one (its prompt cache is there).
NATIVE_KEYS = tuple(f"sk-fake-native-key-{n}-aaaaaaaaaaaaaaaa" for n in range(3))


class MessagesAgent:
    """A native Anthropic upstream playing an agent: offered Write, it writes hello.txt;
    given the tool's result, it answers in text."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def __call__(self, hit: Hit) -> Reply | None:
        if not hit.path.endswith("/messages"):
            return None
        body = hit.body or {}
        tools = {t.get("name") for t in body.get("tools") or []}
        last = (body.get("messages") or [{}])[-1]
        blocks = last.get("content") if isinstance(last.get("content"), list) else []
        answered = any(b.get("type") == "tool_result" for b in blocks)
        if not body.get("stream"):  # a title or a summary: a whole answer
            return Reply(body={**message(CLAUDE, "A title"), "content": [
                {"type": "text", "text": "A title"}]})  # fmt: skip
        if "Write" in tools and not answered:
            return Reply(events=tool_use_events(self.workdir), done=False)
        return Reply(events=message_events(CLAUDE, [ANSWER], thinking=False), done=False)


def tool_use_events(workdir: Path) -> list[bytes]:
    """Messages events of one Write tool call, its input in two fragments."""
    arguments = json.dumps({"file_path": str(workdir / "hello.txt"), "content": "hello\n"})
    half = len(arguments) // 2
    start = message_events(CLAUDE, [])[0]
    block = {"type": "tool_use", "id": "toolu_01", "name": "Write", "input": {}}
    return [
        start,
        sse("content_block_start", {"type": "content_block_start", "index": 0,
            "content_block": block}),
        *(sse("content_block_delta", {"type": "content_block_delta", "index": 0,
              "delta": {"type": "input_json_delta", "partial_json": part}})
          for part in (arguments[:half], arguments[half:])),
        sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
        sse("message_delta", {"type": "message_delta", "usage": {"output_tokens": 20},
            "delta": {"stop_reason": "tool_use", "stop_sequence": None}}),
        sse("message_stop", {"type": "message_stop"}),
    ]  # fmt: skip


@pytest.fixture
def workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="keyrelay-agent-"))


@pytest.fixture
def upstreams(workdir: Path) -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    native, backup = FakeUpstream([CLAUDE, GPT]), FakeUpstream([CLAUDE, GPT])
    native.default = MessagesAgent(workdir)
    backup.default = Agent(workdir)
    yield native, backup
    native.close()
    backup.close()


def native_gateway(
    start: StartGateway, native: FakeUpstream, backup: FakeUpstream, provider: str = "ANTHROPIC"
) -> Gunicorn:
    """``provider`` (anthropic or openai, tier 1) in front of ``native``, a chat backup behind."""
    return start({
        "PROXY_API_KEY": CLIENT_KEY,
        f"{provider}_API_KEY": ",".join(NATIVE_KEYS),
        f"{provider}_API_BASE": native.base_url,
        "BACKUP_API_KEY": "sk-fake-backup-key-cccccccccccccccc",
        "BACKUP_API_BASE": backup.base_url,
        "PROVIDER_PRIORITY_BACKUP": "3",
    })  # fmt: skip


def claude_env(gateway: Gunicorn, proxy: RefusingProxy) -> dict[str, str]:
    home = Path(tempfile.mkdtemp(prefix="keyrelay-home-"))
    env = readme_env(gateway, proxy, home)
    env["ANTHROPIC_MODEL"] = env["ANTHROPIC_SMALL_FAST_MODEL"] = CLAUDE
    return env


def test_claude_code_writes_a_file_through_native_messages(
    claude: Path,
    start_gateway: StartGateway,
    refusing_proxy: RefusingProxy,
    workdir: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:
    native, backup = upstreams
    gateway = native_gateway(start_gateway, native, backup)
    run = run_claude(claude, claude_env(gateway, refusing_proxy), workdir,
                     "Create hello.txt saying hello", "stream-json")  # fmt: skip
    found = results(run.stdout)
    assert run.returncode == 0 and found, run.stdout[-2000:] + run.stderr[-2000:]
    assert found[-1]["is_error"] is False and found[-1]["result"] == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    turns = [h for h in native.hits if h.path.endswith("/v1/messages")]
    posted = [(h.path, (h.body or {}).get("model")) for h in backup.hits if h.method == "POST"]
    assert len(turns) >= 2 and not posted, posted
    sent = [json.dumps(h.body) for h in turns]
    assert any('"cache_control"' in s for s in sent)  # Claude Code's own caching, kept
    assert any(b["type"] == "tool_result" for h in turns for m in (h.body or {})["messages"]
               if isinstance(m["content"], list) for b in m["content"])  # fmt: skip
    main = [h for h in turns if (h.body or {}).get("stream")]  # the session's own turns
    assert len(main) >= 2 and len({h.headers.get("x-api-key") for h in main}) == 1
    assert main[0].headers.get("x-api-key") in NATIVE_KEYS
    assert any("anthropic-beta" in h.headers for h in turns)


def test_claude_code_finishes_on_a_translated_provider_when_anthropic_is_overloaded(
    claude: Path,
    start_gateway: StartGateway,
    refusing_proxy: RefusingProxy,
    workdir: Path,
    upstreams: tuple[FakeUpstream, FakeUpstream],
) -> None:
    native, backup = upstreams
    agent, asked = MessagesAgent(workdir), []

    def then_overloaded(hit: Hit) -> Reply | None:
        if not hit.path.endswith("/messages"):
            return None
        asked.append(hit)
        if len(asked) == 1:
            return agent(hit)  # the tool call, natively
        overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "no"}}
        return Reply(status=529, body=overloaded)

    native.default = then_overloaded
    gateway = native_gateway(start_gateway, native, backup)
    run = run_claude(claude, claude_env(gateway, refusing_proxy), workdir,
                     "Create hello.txt saying hello", "stream-json")  # fmt: skip
    found = results(run.stdout)
    assert run.returncode == 0 and found, run.stdout[-2000:] + run.stderr[-2000:]
    assert found[-1]["is_error"] is False and found[-1]["result"] == ANSWER
    assert (workdir / "hello.txt").read_text() == "hello\n"
    assert [h for h in backup.hits if h.path.endswith("/chat/completions")]


class ResponsesAgent:
    """A native OpenAI upstream playing Codex's model: offered apply_patch (a freeform
    ``custom`` tool), it writes hello.txt with it; given its output, it answers in text."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def __call__(self, hit: Hit) -> Reply | None:
        if not hit.path.endswith("/responses"):
            return None
        body = hit.body or {}
        self.seen.append(body)
        items = body.get("input") if isinstance(body.get("input"), list) else []
        done = any(i.get("type") == "custom_tool_call_output" for i in items)
        custom = {t.get("name") for t in body.get("tools") or [] if t.get("type") == "custom"}
        if "apply_patch" in custom and not done:
            return Reply(events=patch_events(), done=False)
        return Reply(events=response_events(GPT, [ANSWER], reasoning=False), done=False)


def patch_events() -> list[bytes]:
    """Responses events of one apply_patch call (a ``custom_tool_call``), in two deltas."""
    item = {"id": "ctc_1", "type": "custom_tool_call", "call_id": "call_1",
            "name": "apply_patch", "input": "", "status": "in_progress"}  # fmt: skip
    whole = {**item, "input": PATCH, "status": "completed"}
    opened = {"id": "resp_patch", "object": "response", "created_at": 1_700_000_000,
              "status": "in_progress", "model": GPT, "output": [], "usage": None}  # fmt: skip
    usage = {"input_tokens": 50, "input_tokens_details": {"cached_tokens": 0},
             "output_tokens": 20, "total_tokens": 70}  # fmt: skip
    half = len(PATCH) // 2
    kinds: list[tuple[str, dict[str, Any]]] = [
        ("response.created", {"response": opened}),
        ("response.in_progress", {"response": opened}),
        ("response.output_item.added", {"output_index": 0, "item": item}),
        *(("response.custom_tool_call_input.delta",
           {"item_id": "ctc_1", "output_index": 0, "delta": part})
          for part in (PATCH[:half], PATCH[half:])),
        ("response.custom_tool_call_input.done",
         {"item_id": "ctc_1", "output_index": 0, "input": PATCH}),
        ("response.output_item.done", {"output_index": 0, "item": whole}),
        ("response.completed", {"response": {**opened, "status": "completed",
                                             "output": [whole], "usage": usage}}),
    ]  # fmt: skip
    return [
        sse(kind, {"type": kind, "sequence_number": n, **fields})
        for n, (kind, fields) in enumerate(kinds)
    ]


def test_codex_patches_a_file_through_native_responses(
    codex: Path, start_gateway: StartGateway, refusing_proxy: RefusingProxy
) -> None:
    native, backup = FakeUpstream([GPT]), FakeUpstream([GPT])
    try:
        agent = ResponsesAgent()
        native.default = agent
        gateway = native_gateway(start_gateway, native, backup, "OPENAI")
        run, workdir = run_codex(codex, gateway, refusing_proxy, GPT)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert final_message(events(run.stdout)) == ANSWER
        assert (workdir / "hello.txt").read_text() == "hello\n"
        assert len(agent.seen) >= 2 and not [h for h in backup.hits if h.method == "POST"]
        turns = [h for h in native.hits if h.path.endswith("/v1/responses")]
        assert len({h.key for h in turns}) == 1 and turns[0].key in NATIVE_KEYS  # one key
        later = agent.seen[-1]["input"]
        # Codex's own freeform tool call and its output went back to OpenAI as items.
        assert any(i.get("type") == "custom_tool_call" for i in later)
        assert any(i.get("type") == "custom_tool_call_output" for i in later)
        assert any(t.get("type") == "custom" for t in agent.seen[0].get("tools") or [])
    finally:
        native.close()
        backup.close()


def test_codex_finishes_on_a_translated_provider_when_openai_fails(
    codex: Path, start_gateway: StartGateway, refusing_proxy: RefusingProxy
) -> None:
    native, backup = FakeUpstream([GPT]), FakeUpstream([GPT])
    try:
        agent, asked = ResponsesAgent(), []

        def then_failing(hit: Hit) -> Reply | None:
            if not hit.path.endswith("/responses"):
                return None
            asked.append(hit)
            return agent(hit) if len(asked) == 1 else Reply(status=500)

        native.default = then_failing
        backup.default = CodexAgent()
        gateway = native_gateway(start_gateway, native, backup, "OPENAI")
        run, workdir = run_codex(codex, gateway, refusing_proxy, GPT)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
        assert final_message(events(run.stdout)) == ANSWER
        assert (workdir / "hello.txt").read_text() == "hello\n"
        assert [h for h in backup.hits if h.path.endswith("/chat/completions")]
    finally:
        native.close()
        backup.close()


__all__ = ["claude", "codex", "refusing_proxy"]  # fixtures, imported for these tests
