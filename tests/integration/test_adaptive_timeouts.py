"""Adaptive timeouts over real sockets: a hung provider is abandoned once its latency is known."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.upstream import FakeUpstream, Reply

from .helpers import AUTH, CLIENT_KEY, StartGateway

pytestmark = pytest.mark.integration


@pytest.fixture
def pair() -> Iterator[tuple[FakeUpstream, FakeUpstream]]:
    premium, backup = FakeUpstream(), FakeUpstream()
    yield premium, backup
    premium.close()
    backup.close()


def env(premium: FakeUpstream, backup: FakeUpstream, **extra: str) -> dict[str, str]:
    return {
        "PROXY_API_KEY": CLIENT_KEY,
        "PREMIUM_API_BASE": premium.base_url,
        "PREMIUM_API_KEY": "sk-premium-aaaaaaaaaaaaaaaaa",
        "PREMIUM_MODELS": "m",
        "PROVIDER_PRIORITY_PREMIUM": "1",
        "BACKUP_API_BASE": backup.base_url,
        "BACKUP_API_KEY": "sk-backup-bbbbbbbbbbbbbbbbbbb",
        "BACKUP_MODELS": "m",
        "PROVIDER_PRIORITY_BACKUP": "2",
        # The static read timeout alone would spend the whole deadline on the hung provider.
        "TIMEOUT_READ": "30",
        "REQUEST_DEADLINE": "4",
        "ADAPTIVE_TIMEOUT_FLOOR": "0.3",
        "ADAPTIVE_TIMEOUT_MIN_SAMPLES": "5",
        **extra,
    }


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize("adaptive", [True, False], ids=["adaptive", "static"])
def test_hung_provider_is_abandoned_once_its_latency_is_known(
    pair: tuple[FakeUpstream, FakeUpstream],
    start_gateway: StartGateway,
    stream: bool,
    adaptive: bool,
) -> None:
    premium, backup = pair
    gateway = start_gateway(env(premium, backup, ADAPTIVE_TIMEOUT=str(adaptive).lower()))
    body = {"model": "premium/m", "messages": [{"role": "user", "content": "Hi"}], "stream": stream}
    for _ in range(5):  # premium answers quickly: its latency becomes known
        assert (
            gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH).headers[
                "X-Provider"
            ]
            == "premium"
        )
    premium.default = lambda hit: Reply(delay=10)  # now it hangs
    response = gateway.request("POST", "/v1/chat/completions", json=body, headers=AUTH)
    if adaptive:
        assert response.status_code == 200
        assert response.headers["X-Provider"] == "backup"
        assert "premium:-:timeout" in response.headers["X-Attempt-Trail"]
    else:
        assert response.status_code == 504
        assert response.json()["error"]["code"] == "deadline_exceeded"
    mode = "stream" if stream else "whole"
    providers = gateway.request("GET", "/v1/providers", headers=AUTH).json()["data"]
    state = next(p for p in providers if p["provider"] == "premium")["adaptive_timeout"][mode]
    assert state["samples"] == 5
    assert (state["timeout"] < 30) is adaptive
