"""Request validation: what passes, and the param named when something does not."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from flask.testing import FlaskClient

from tests.helpers import COMPLETION, UPSTREAM

MSG = [{"role": "user", "content": "hi"}]


def chat(**fields: Any) -> dict[str, Any]:
    return {"model": "fake/fake-model", "messages": MSG, **fields}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ({"messages": MSG}, "model", "missing_required_parameter"),
        ({"model": "fake/fake-model"}, "messages", "missing_required_parameter"),
        (chat(messages=[]), "messages", "invalid_value"),
        (chat(model=""), "model", "invalid_value"),
        (chat(model=5), "model", "invalid_value"),
        (chat(temperature=2.5), "temperature", "invalid_value"),
        (chat(temperature="0.5"), "temperature", "invalid_value"),
        (chat(top_p=1.5), "top_p", "invalid_value"),
        (chat(n=0), "n", "invalid_value"),
        (chat(n=1.5), "n", "invalid_value"),
        (chat(n=True), "n", "invalid_value"),
        (chat(presence_penalty=-3), "presence_penalty", "invalid_value"),
        (chat(frequency_penalty=2.1), "frequency_penalty", "invalid_value"),
        (chat(stop=["a", "b", "c", "d", "e"]), "stop", "invalid_value"),
        (chat(stop=[1]), "stop", "invalid_value"),
        (chat(stream="yes"), "stream", "invalid_value"),
        (chat(stream_options={"include_usage": True}), "stream_options", "invalid_value"),
        (chat(logit_bias={"50256": 101}), "logit_bias", "invalid_value"),
        (chat(top_logprobs=21), "top_logprobs", "invalid_value"),
        (chat(messages=[{"role": "robot", "content": "x"}]), "messages[0].role", "invalid_value"),
        (chat(messages=[{"content": "x"}]), "messages[0].role", "missing_required_parameter"),
        (chat(messages=[{"role": "user"}]), "messages[0].content", "missing_required_parameter"),
        (chat(messages=[{"role": "user", "content": 3}]), "messages[0].content", "invalid_value"),
        (
            chat(messages=[MSG[0], {"role": "user", "content": [{"text": "no type"}]}]),
            "messages[1].content[0]",
            "invalid_value",
        ),
        (
            chat(messages=[{"role": "tool", "content": "r"}]),
            "messages[0].tool_call_id",
            "missing_required_parameter",
        ),
        (
            chat(messages=[{"role": "assistant", "content": None}]),
            "messages[0].content",
            "invalid_value",
        ),
    ],
)
def test_invalid_chat_bodies(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], param: str, code: str
) -> None:
    response = client.post("/v1/chat/completions", json=body, headers=auth)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert (error["param"], error["code"], error["type"]) == (param, code, "invalid_request_error")
    assert param in error["message"]


@pytest.mark.parametrize(
    "body",
    [
        chat(temperature=0, top_p=1, n=1, stop="x", presence_penalty=-2, frequency_penalty=2),
        chat(stop=["a", "b"], stream=True, stream_options={"include_usage": True}),
        chat(
            messages=[
                {"role": "developer", "content": [{"type": "text", "text": "be brief"}]},
                *MSG,
            ]
        ),
        chat(
            messages=[
                *MSG,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "f", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "42"},
            ]
        ),
        chat(
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
                    ],
                }
            ]
        ),
        chat(
            response_format={"type": "json_object"},
            tools=[],
            some_future_field={"x": 1},
            temperature=None,
        ),
    ],
)
def test_valid_chat_bodies_pass_validation(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], mocked: responses.RequestsMock
) -> None:
    if body.get("stream"):
        sse = b'data: {"choices":[{"index":0,"delta":{"content":"ok"},"finish_reason":"stop"}]}\n\n'
        mocked.post(f"{UPSTREAM}/chat/completions", body=sse, content_type="text/event-stream")
    else:
        mocked.post(f"{UPSTREAM}/chat/completions", json=COMPLETION)
    response = client.post("/v1/chat/completions", json=body, headers=auth)
    assert response.status_code == 200, response.get_json()
    assert json.loads(mocked.calls[0].request.body) == {**body, "model": "fake-model"}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": "fake/fake-model"}, "input"),
        ({"model": "fake/fake-model", "input": []}, "input"),
        ({"model": "fake/fake-model", "input": [1, "a"]}, "input"),
        ({"model": "fake/fake-model", "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "fake/fake-model", "input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_invalid_embedding_bodies(
    client: FlaskClient, auth: dict[str, str], body: dict[str, Any], param: str
) -> None:
    response = client.post("/v1/embeddings", json=body, headers=auth)
    assert response.status_code == 400
    assert response.get_json()["error"]["param"] == param


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe\x00", b""])
def test_malformed_json_is_400(client: FlaskClient, auth: dict[str, str], raw: bytes) -> None:
    response = client.post(
        "/v1/chat/completions", data=raw, headers={**auth, "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
