"""Malformed upstream answers through every dialect: a provider failure, never a 500.

Before the commit point the walk moves on to the next tier; after it the stream ends with
the dialect's own error event. Whole answers and streams, chat, Messages and Responses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream, Reply, chunk, completion, stream_events

from .helpers import AUTH, CLIENT_KEY

pytestmark = pytest.mark.integration

MODEL = "shared-model"


def _whole(**message: Any) -> dict[str, Any]:
    body = completion(MODEL)
    body["choices"][0]["message"].update(message)
    return body


WHOLE = {
    "choice is a number": {**completion(MODEL), "choices": [1]},
    "message is text": {**completion(MODEL), "choices": [{"index": 0, "message": "str"}]},
    "tool_calls is text": _whole(tool_calls="x"),
    "tool call is a number": _whole(tool_calls=[1]),
    "function is text": _whole(tool_calls=[{"id": "c", "type": "function", "function": "f"}]),
    "arguments is a list": _whole(
        tool_calls=[{"id": "c", "type": "function", "function": {"name": "f", "arguments": [1]}}]
    ),
    "content is a number": _whole(content=7),
    "finish_reason is a list": {
        **completion(MODEL),
        "choices": [{"index": 0, "message": {"content": "x"}, "finish_reason": ["stop"]}],
    },
}
BAD_CHUNKS: dict[str, Any] = {
    "choices is text": {"id": "x", "object": "chat.completion.chunk", "choices": "all"},
    "choice is a number": {"id": "x", "choices": [1]},
    "delta is text": {"id": "x", "choices": [{"index": 0, "delta": "str"}]},
    "tool_calls is text": chunk(MODEL, {"tool_calls": "x"}),
    "tool call is a number": chunk(MODEL, {"tool_calls": [1]}),
    "function is text": chunk(MODEL, {"tool_calls": [{"index": 0, "function": "f"}]}),
    "name is a number": chunk(MODEL, {"tool_calls": [{"index": 0, "function": {"name": 3}}]}),
    "index is text": chunk(MODEL, {"tool_calls": [{"index": "0", "function": {"name": "f"}}]}),
    "content is a dict": chunk(MODEL, {"content": {"text": "x"}}),
    "usage is text": {**chunk(MODEL, {"content": "x"}), "usage": "lots"},
}

ROUTES = {
    "chat": (
        "/v1/chat/completions",
        {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "messages": (
        "/v1/messages",
        {"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]},
    ),
    "responses": ("/v1/responses", {"model": MODEL, "input": "Hi"}),
}


@pytest.fixture(scope="module")
def ladder() -> Iterator[tuple[Gunicorn, FakeUpstream, FakeUpstream]]:
    """One gateway for the module (each test scripts the fakes anew); its circuits never
    open, so that every test sees the bad provider asked first."""
    bad, good = FakeUpstream([MODEL]), FakeUpstream([MODEL])
    env = {"PROXY_API_KEY": CLIENT_KEY, "CIRCUIT_MIN_CALLS": "1000000"}
    for tier, (name, fake) in enumerate((("BAD", bad), ("GOOD", good)), start=1):
        env.update(
            {
                f"{name}_API_BASE": fake.base_url,
                f"{name}_API_KEY": f"sk-{name.lower()}-key-aaaaaaaaaaaaaaaaaaaa",
                f"{name}_MODELS": MODEL,
                f"PROVIDER_PRIORITY_{name}": str(tier),
            }
        )
    gateway = Gunicorn(env)
    yield gateway, bad, good
    gateway.stop()
    bad.close()
    good.close()


def ask(gateway: Gunicorn, route: str, stream: bool) -> requests.Response:
    path, body = ROUTES[route]
    headers = {**AUTH, "anthropic-version": "2023-06-01"}
    return requests.post(
        gateway.url + path, json={**body, "stream": stream}, headers=headers, timeout=30
    )


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("shape", list(WHOLE))
def test_a_malformed_whole_answer_fails_over(ladder: Any, route: str, shape: str) -> None:
    gateway, bad, _ = ladder
    bad.default = lambda hit: Reply(body=WHOLE[shape])
    answer = ask(gateway, route, stream=False)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Provider"] == "good"
    assert answer.headers["X-Attempt-Trail"].startswith("bad:-:malformed")


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("shape", list(BAD_CHUNKS))
def test_a_malformed_chunk_before_the_commit_point_fails_over(
    ladder: Any, route: str, shape: str
) -> None:
    gateway, bad, good = ladder
    bad.default = lambda hit: Reply(events=[BAD_CHUNKS[shape]])
    good.default = lambda hit: Reply(events=stream_events(MODEL, ["fine"], usage=True))
    answer = ask(gateway, route, stream=True)
    assert answer.status_code == 200, answer.text
    assert answer.headers["X-Provider"] == "good"
    assert "fine" in answer.text and "Traceback" not in answer.text


#: The last event of a stream cut after its commit point, per dialect.
ERROR_EVENT = {
    "chat": lambda text: '"error"' in text.rsplit("data:", 1)[-1],
    "messages": lambda text: "event: error" in text and "message_stop" not in text,
    "responses": lambda text: "response.failed" in text and "response.completed" not in text,
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("shape", list(BAD_CHUNKS))
def test_a_malformed_chunk_after_the_commit_point_ends_in_the_dialects_error(
    ladder: Any, route: str, shape: str
) -> None:
    gateway, bad, _ = ladder
    first = chunk(MODEL, {"role": "assistant", "content": "Hel"})
    bad.default = lambda hit: Reply(events=[first, BAD_CHUNKS[shape]])
    answer = ask(gateway, route, stream=True)
    assert answer.status_code == 200 and answer.headers["X-Provider"] == "bad"
    text = answer.text
    assert "Hel" in text and ERROR_EVENT[route](text), text[-600:]
    assert "Traceback" not in text and json.dumps(BAD_CHUNKS[shape]) not in text
