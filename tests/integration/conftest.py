"""Fixtures for tests over real sockets: fake upstreams and a real gunicorn in front of them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

from .helpers import StartGateway, fake_env


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


@pytest.fixture
def gateway(fake: FakeUpstream, start_gateway: StartGateway) -> Gunicorn:
    """gunicorn (gthread) in front of ``fake`` with two keys."""
    return start_gateway(fake_env(fake))
