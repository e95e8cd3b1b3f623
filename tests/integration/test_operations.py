"""Start-up and secrets, as an operator sees them from outside the process."""

from __future__ import annotations

import json

import pytest

from tests.fakes.upstream import FakeUpstream, Reply

from .helpers import AUTH, CLIENT_KEY, KEY_A, KEY_B, StartGateway, fake_env

pytestmark = pytest.mark.integration

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


def test_invalid_setting_stops_startup_naming_the_variable(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    with pytest.raises(RuntimeError) as info:
        start_gateway(fake_env(fake, TIMEOUT_READ="soon"))
    # gunicorn stopped (no worker respawn loop), saying why in one line.
    assert "gunicorn exited with" in str(info.value)
    assert "keyrelay: invalid configuration: TIMEOUT_READ='soon' is not a number" in str(info.value)


def test_secrets_reach_no_log_line_and_no_response(
    start_gateway: StartGateway, fake: FakeUpstream
) -> None:
    gateway = start_gateway(fake_env(fake, LOG_LEVEL="debug"))
    fake.script(KEY_A, Reply(status=429, body={"error": {"message": f"limit for {KEY_A}"}}))
    fake.script(KEY_B, Reply(status=401, body={"error": {"message": f"bad key {KEY_B}"}}))
    bodies = []
    for body in (CHAT, {**CHAT, "stream": True}, {**CHAT, "temperature": 9}):
        response = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
        bodies.append(response.text + json.dumps(dict(response.headers)))
    response = gateway.request(
        "GET", "/v1/models", headers={"Authorization": "Bearer wrong-" + CLIENT_KEY}
    )
    bodies.append(response.text)
    logs = gateway.logs()
    assert "POST /v1/chat/completions" in logs  # the access log is there to be searched
    for secret in (KEY_A, KEY_B, CLIENT_KEY):
        assert secret not in logs
        assert all(secret not in body for body in bodies)
