"""Constants and helpers shared by the tests over real sockets (fixtures stay in conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Callable

from bench.gunicorn import Gunicorn
from tests.fakes.upstream import FakeUpstream

CLIENT_KEY = "client-key-integration"
KEY_A = "sk-fake-upstream-key-aaaaaaaaaaaa"
KEY_B = "sk-fake-upstream-key-bbbbbbbbbbbb"

StartGateway = Callable[..., Gunicorn]
AUTH = {"Authorization": f"Bearer {CLIENT_KEY}"}


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


#: Running in CI: a system program the tests need (nginx, wrk, redis-server, chromium) must
#: be there, so its absence fails instead of skipping.
IN_CI = os.environ.get("CI", "").lower() == "true"
