"""Fixtures for tests over real sockets: fake upstreams and a real gunicorn in front of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.fakes.upstream import FakeUpstream

from .gunicorn import Gunicorn

CLIENT_KEY = "client-key-integration"
KEY_A = "sk-fake-upstream-key-aaaaaaaaaaaa"
KEY_B = "sk-fake-upstream-key-bbbbbbbbbbbb"

StartGateway = Callable[..., Gunicorn]


@pytest.fixture
def fake() -> Iterator[FakeUpstream]:
    """A fake OpenAI-compatible upstream on loopback."""
    upstream = FakeUpstream()
    yield upstream
    upstream.close()


@pytest.fixture
def start_gateway() -> Iterator[StartGateway]:
    """Start gunicorn with an environment; every one started is stopped at the end."""
    started: list[Gunicorn] = []

    def start(env: dict[str, str], *, worker_class: str | None = "gthread") -> Gunicorn:
        """``worker_class=None`` runs the shipped default."""
        server = Gunicorn(env, worker_class=worker_class)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def fake_env(fake: FakeUpstream, *keys: str, **extra: str) -> dict[str, str]:
    """Environment for one custom provider 'fake' served by ``fake`` with ``keys``."""
    env = {
        "PROXY_API_KEY": CLIENT_KEY,
        "FAKE_API_BASE": fake.base_url,
        "FAKE_MODELS": "fake-model,other-model",
    }
    for index, key in enumerate(keys or (KEY_A, KEY_B), start=1):
        env[f"FAKE_API_KEY_{index}"] = key
    env.update(extra)
    return env


@pytest.fixture
def gateway(fake: FakeUpstream, start_gateway: StartGateway) -> Gunicorn:
    """gunicorn (gthread) in front of ``fake`` with two keys."""
    return start_gateway(fake_env(fake))


AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}
