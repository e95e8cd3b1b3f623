"""The web edge: auth, the error envelope on every path, health and readiness."""

from __future__ import annotations

import json

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from providers.errors import KeyRejected
from tests.helpers import CLIENT_KEY, COMPLETION, UPSTREAM

CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "hi"}]}


def assert_envelope(body: dict[str, object]) -> dict[str, object]:
    error = body["error"]
    assert isinstance(error, dict)
    assert set(error) >= {"message", "type", "param", "code"}
    return error


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "missing_api_key"),
        ({"Authorization": "Bearer wrong"}, "invalid_api_key"),
        ({"Authorization": "Basic " + CLIENT_KEY}, "missing_api_key"),
        ({"x-api-key": "wrong"}, "invalid_api_key"),
    ],
)
def test_client_key_is_required(client: FlaskClient, headers: dict[str, str], code: str) -> None:
    for method, path in [
        ("post", "/v1/chat/completions"),
        ("get", "/v1/models"),
        ("post", "/v1/embeddings"),
    ]:
        response = getattr(client, method)(path, json=CHAT, headers=headers)
        assert response.status_code == 401
        error = assert_envelope(response.get_json())
        assert error["code"] == code
        assert "wrong" not in response.get_data(as_text=True)


def test_x_api_key_and_several_client_keys(config: dict[str, str]) -> None:
    client = create_app({**config, "PROXY_API_KEY": "first, second"}).test_client()
    assert client.get("/v1/models", headers={"x-api-key": "second"}).status_code == 200
    assert client.get("/v1/models", headers={"Authorization": "Bearer first"}).status_code == 200


def test_open_access_without_proxy_key_warns(
    config: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    del config["PROXY_API_KEY"]
    client = create_app(config).test_client()
    warning = json.loads(capsys.readouterr().err.splitlines()[0])
    assert warning["level"] == "warning" and "OPEN" in warning["msg"]
    assert client.get("/v1/models").status_code == 200


def test_body_over_the_limit_is_413(config: dict[str, str], auth: dict[str, str]) -> None:
    client = create_app({**config, "MAX_REQUEST_BODY_BYTES": "1000"}).test_client()
    big = {**CHAT, "messages": [{"role": "user", "content": "x" * 2000}]}
    response = client.post("/v1/chat/completions", json=big, headers=auth)
    assert response.status_code == 413
    assert assert_envelope(response.get_json())["code"] == "request_too_large"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v1/nothing", 404),
        ("get", "/nothing", 404),
        ("get", "/v1/chat/completions", 405),
        ("delete", "/health", 405),
    ],
)
def test_routing_errors_use_the_envelope(
    client: FlaskClient, auth: dict[str, str], method: str, path: str, status: int
) -> None:
    response = getattr(client, method)(path, headers=auth)
    assert response.status_code == status
    assert response.is_json
    assert_envelope(response.get_json())


def test_unexpected_errors_are_500_without_a_traceback(app: Flask, auth: dict[str, str]) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals")

    app.extensions["keyrelay"].router.complete = lambda payload: explode()
    response = app.test_client().post("/v1/chat/completions", json=CHAT, headers=auth)
    assert response.status_code == 500
    error = assert_envelope(response.get_json())
    assert error["type"] == "server_error"
    assert "secret internals" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


def test_health_needs_no_auth_and_no_upstream(client: FlaskClient) -> None:
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_ready_reports_key_counts(client: FlaskClient, auth: dict[str, str]) -> None:
    response = client.get("/ready", headers=auth)
    assert response.status_code == 200
    assert response.get_json()["providers"]["fake"]["usable"] == 2


@pytest.mark.parametrize("header", [{}, {"Authorization": "Bearer wrong"}])
def test_ready_tells_strangers_only_the_status(client: FlaskClient, header: dict[str, str]) -> None:
    response = client.get("/ready", headers=header)
    assert response.status_code == 200
    assert response.get_json() == {"status": "ready", "state": "local"}


def test_ready_detail_with_the_metrics_key(config: dict[str, str]) -> None:
    client = create_app({**config, "METRICS_API_KEY": "scraper"}).test_client()
    body = client.get("/ready", headers={"Authorization": "Bearer scraper"}).get_json()
    assert body["providers"]["fake"]["usable"] == 2


def test_not_ready_gives_a_one_word_reason_without_detail(config: dict[str, str]) -> None:
    app = create_app(config)
    for runtime in app.extensions["keyrelay"].router.providers.values():
        while (lease := runtime.keys.acquire()) is not None:
            runtime.keys.record(lease, KeyRejected("revoked", upstream_status=401))
    response = app.test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert (body["status"], body["reason"]) == ("unavailable", "no_usable_key")
    assert "providers" not in body and "fake" not in response.get_data(as_text=True)


def test_not_ready_without_providers() -> None:
    response = create_app({}).test_client().get("/ready")
    assert response.status_code == 503
    body = response.get_json()
    assert_envelope(body)
    assert "no provider is configured" in body["error"]["message"]


def test_factory_reads_the_mapping_not_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GROQ_API_KEY", "from-the-environment")
    assert create_app({}).extensions["keyrelay"].router.providers == {}
    monkeypatch.setenv("ENV_FILE", "/nonexistent/.env")
    assert "groq" in create_app().extensions["keyrelay"].router.providers


def test_metrics_without_gunicorn_serve_this_process(
    client: FlaskClient, auth: dict[str, str], mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{UPSTREAM}/chat/completions", json=COMPLETION)

    def successes() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        return sum(
            s.value
            for family in text_string_to_metric_families(text)
            for s in family.samples
            if s.name == "keyrelay_upstream_attempts_total"
            and s.labels == {"provider": "fake", "tier": "10", "outcome": "success"}
        )

    before = successes()
    response = client.post("/v1/chat/completions", json=CHAT, headers=auth)
    response.close()  # metrics are recorded when the response closes
    assert successes() == before + 1


def test_probes_are_not_counted_as_traffic(client: FlaskClient) -> None:
    before = client.get("/metrics").get_data(as_text=True).count('route="/health"')
    client.get("/health")
    client.get("/ready")
    after = client.get("/metrics").get_data(as_text=True)
    assert after.count('route="/health"') == before == 0
    assert 'route="/ready"' not in after
