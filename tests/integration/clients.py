"""Helpers for the client-key tests: the operator's CLI against a gateway's environment,
and requests that land on every worker."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from bench.gunicorn import Gunicorn

ROOT = Path(__file__).resolve().parents[2]
BODY = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "hi"}]}


def cli(env: dict[str, str], *args: str) -> str:
    """``flask --app wsgi clients ARGS`` on ``env``'s store; its output (it must succeed)."""
    full = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "ENV_FILE": "/nonexistent/.env", "LOG_LEVEL": "warning", **env}  # fmt: skip
    command = [sys.executable, "-m", "flask", "--app", "wsgi", "clients", *args]
    done = subprocess.run(command, cwd=ROOT, env=full, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def add(env: dict[str, str], name: str, *limits: str) -> str:
    """A new client key ``name`` with ``limits``; the key."""
    out = cli(env, "add", name, *limits)
    return out.split(f"created {name}: ", 1)[1].split()[0]


def ask(
    gateway: Gunicorn, key: str, body: dict[str, Any] = BODY, **headers: str
) -> requests.Response:
    """One request over a new connection (so that requests reach every worker)."""
    sent = {"Authorization": f"Bearer {key}", "Connection": "close", **headers}
    return requests.post(gateway.url + "/v1/chat/completions", json=body, headers=sent, timeout=60)


def at_once(count: int, send: Any) -> list[requests.Response]:
    """``count`` calls of ``send(i)`` in flight together."""
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(send, range(count)))


def me(gateway: Gunicorn, key: str) -> dict[str, Any]:
    """``GET /v1/me`` for ``key``."""
    reply = requests.get(gateway.url + "/v1/me", headers={"Authorization": f"Bearer {key}"},
                         timeout=30)  # fmt: skip
    assert reply.status_code == 200, reply.text
    body: dict[str, Any] = reply.json()
    return body


def settled(gateway: Gunicorn, key: str, deadline: float = 20.0) -> dict[str, Any]:
    """``/v1/me`` once nothing is in flight for ``key`` (every request settled)."""
    end = time.monotonic() + deadline
    while True:
        found = me(gateway, key)
        if found["used"]["in_flight"] == 0 or time.monotonic() > end:
            return found
        time.sleep(0.05)
