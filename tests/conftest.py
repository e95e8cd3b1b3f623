"""Fixtures shared by every test: a clean environment, and the app built from a mapping."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

import providers.config.shape
from app import create_app
from bench.redisserver import RedisServer

from .helpers import CLIENT_KEY, UPSTREAM, UPSTREAM_KEYS, FakeClock

#: Variables that must never leak from the developer's shell into a test.
_LEAKY = ("_API_KEY", "_API_BASE", "_MODELS", "PROVIDER_PRIORITY_", "G4F_", "PROXY", "_proxy")


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if any(part in name for part in _LEAKY):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _state_in_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Apps built in this process keep key state in it; gunicorns the tests start get the
    shipped default (a state file), each its own (``tests/integration/gunicorn.py``)."""
    monkeypatch.setattr(providers.config.shape, "DEFAULT_STATE_URL", "memory://")


_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never reach the network: resolving any name but loopback fails loudly."""
    real = socket.getaddrinfo

    def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in _LOOPBACK:
            raise AssertionError(f"a test tried to reach {host!r}")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def config() -> dict[str, str]:
    """Environment-style settings for an app with one custom provider of two keys."""
    return {
        "PROXY_API_KEY": CLIENT_KEY,
        "FAKE_API_BASE": UPSTREAM,
        "FAKE_API_KEY_1": UPSTREAM_KEYS[0],
        "FAKE_API_KEY_2": UPSTREAM_KEYS[1],
        "FAKE_MODELS": "fake-model,other-model",
    }


@pytest.fixture
def app(config: dict[str, str]) -> Iterator[Flask]:
    """The app, built from ``config`` only."""
    application = create_app(config)
    yield application
    application.extensions["keyrelay"].router.close()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client."""
    return app.test_client()


@pytest.fixture
def auth() -> dict[str, str]:
    """Headers that authenticate as the client."""
    return {"Authorization": f"Bearer {CLIENT_KEY}"}


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    """Outbound HTTP mocked with ``responses``; an unmocked request fails the test."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock for key pools, circuits and catalogs."""
    return FakeClock()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real redis-server on a loopback port chosen now (CI fails without the binary)."""
    server = RedisServer()
    yield server
    server.stop()
