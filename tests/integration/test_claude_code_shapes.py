"""What Claude Code sends and probes, over sockets: system turns, its base-URL probe, the
Anthropic-shaped model list, and refusals worded as Anthropic words them."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

from .helpers import AUTH, StartGateway, fake_env

pytestmark = pytest.mark.integration

HEADERS = {**AUTH, "anthropic-version": "2023-06-01"}
TURNS = [
    {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    {"role": "system", "content": [{"type": "text", "text": "# Environment\ncwd: /w"}]},
]


def messages(gateway: Gunicorn, body: dict[str, Any], path: str = "/v1/messages") -> Any:
    full = {"model": "fake/fake-model", "max_tokens": 64, **body}
    return requests.post(gateway.url + path, json=full, headers=HEADERS, timeout=30)


@pytest.mark.parametrize("anywhere", [False, True], ids=["merged", "in-place"])
def test_a_system_turn_inside_messages_is_served(
    start_gateway: StartGateway, fake: FakeUpstream, anywhere: bool
) -> None:
    env = fake_env(fake, FAKE_SYSTEM_ANYWHERE="true") if anywhere else fake_env(fake)
    gateway = start_gateway(env)
    answer = messages(gateway, {"system": "Be brief.", "messages": TURNS})
    assert answer.status_code == 200, answer.text
    sent = fake.hits_for(path="/chat/completions")[-1].body or {}
    roles = [m["role"] for m in sent["messages"]]
    if anywhere:
        assert roles == ["system", "user", "system"]
    else:  # a provider that takes one system message gets one, leading, with both texts
        assert roles == ["system", "user"]
        assert sent["messages"][0]["content"] == "Be brief.\n\n# Environment\ncwd: /w"
    counted = messages(gateway, {"messages": TURNS}, "/v1/messages/count_tokens")
    assert counted.status_code == 200 and counted.json()["input_tokens"] > 0


def test_a_refusal_is_worded_as_anthropic_words_it(gateway: Gunicorn) -> None:
    answer = messages(gateway, {"messages": [TURNS[0], {"role": "robot", "content": "x"}]})
    assert answer.status_code == 400
    error = answer.json()
    assert error["type"] == "error" and error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith("messages.1.role: Input should be 'user'")


def test_the_base_url_probe_and_the_anthropic_model_list(gateway: Gunicorn) -> None:
    assert requests.head(gateway.url + "/", timeout=10).status_code == 200
    assert requests.get(gateway.url + "/", timeout=10).status_code == 200
    listed = requests.get(gateway.url + "/v1/models", headers=HEADERS, timeout=10).json()
    assert listed["has_more"] is False and listed["data"]
    assert {m["type"] for m in listed["data"]} == {"model"}
    assert listed["first_id"] == listed["data"][0]["id"] == listed["data"][0]["display_name"]
    assert listed["last_id"] == listed["data"][-1]["id"]
    openai = requests.get(gateway.url + "/v1/models", headers=AUTH, timeout=10).json()
    assert openai["object"] == "list"  # without anthropic-version: OpenAI's shape


def test_bad_system_turns_and_efforts_are_a_400_never_a_500(gateway: Gunicorn) -> None:
    for body in (
        {"messages": [TURNS[0], {"role": "system", "content": 7}]},
        {"messages": [TURNS[0], {"role": "system", "content": [1]}]},
        {"messages": TURNS, "output_config": {"effort": "enormous"}},
    ):
        answer = messages(gateway, body)
        assert answer.status_code == 400, (body, answer.text)
        assert answer.json()["error"]["message"].split(":")[0].count("[") == 0
