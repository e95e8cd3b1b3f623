"""Flaky providers in the field: circuits judged by a failure rate, and the last option tried.

Each fake draws its outcome per request from a seeded generator, so a run is the same
mix every time (the order requests reach it still varies with the workers).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.upstream import FakeUpstream, Hit, Reply, completion, stream_events

from .helpers import AUTH, CLIENT_KEY, StartGateway

pytestmark = pytest.mark.integration

MODEL = "shared-model"
#: TIMEOUT_READ of these tests: far above what an answer takes on a busy machine.
READ_TIMEOUT = 3


class Flaky:
    """Outcomes drawn from weights, one per request, from a seeded generator."""

    def __init__(self, weights: dict[str, float], seed: int) -> None:
        self._kinds, self._weights = list(weights), list(weights.values())
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self.drawn: Counter[str] = Counter()

    def __call__(self, hit: Hit) -> Reply:
        with self._lock:
            kind = self._random.choices(self._kinds, self._weights)[0]
            self.drawn[kind] += 1
        stream = bool((hit.body or {}).get("stream"))
        return REPLIES[kind](stream)


def _ok(stream: bool) -> Reply:
    if stream:
        return Reply(events=stream_events(MODEL, ["Hello", " there"]))
    return Reply(body=completion(MODEL))


REPLIES: dict[str, Callable[[bool], Reply]] = {
    "ok": _ok,
    "500": lambda stream: Reply(status=500),
    "429": lambda stream: Reply(status=429, headers={"Retry-After": "1"}),
    # Twice TIMEOUT_READ: a hang, however slow a loaded machine answers the rest.
    "hang": lambda stream: Reply(body=completion(MODEL), delay=2 * READ_TIMEOUT),
    # A stream cut before its first event; a whole answer cut inside its JSON.
    "broken": lambda stream: (
        Reply(events=[], done=False, drop_after=0) if stream else Reply(raw=b'{"id": "x", "ch')
    ),
}


def provider_env(name: str, fake: FakeUpstream, tier: int, keys: int = 1) -> dict[str, str]:
    env = {
        f"{name}_API_BASE": fake.base_url,
        f"{name}_MODELS": MODEL,
        f"PROVIDER_PRIORITY_{name}": str(tier),
    }
    for n in range(1, keys + 1):
        env[f"{name}_API_KEY_{n}"] = f"sk-{name.lower()}-key-{n}-aaaaaaaaaaaaaaaa"
    return env


def ask_many(url: str, count: int, clients: int, stream_every: int = 0) -> list[requests.Response]:
    """``count`` chat requests from ``clients`` threads (every ``stream_every``-th streamed)."""
    local = threading.local()

    def one(n: int) -> requests.Response:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}]}
        body["stream"] = bool(stream_every) and n % stream_every == 0
        answer: requests.Response = local.session.post(
            url + "/v1/chat/completions", json=body, headers=AUTH, timeout=60
        )
        return answer

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


def served_by(answer: requests.Response) -> str:
    return answer.headers.get("X-Provider", "") if answer.status_code == 200 else ""


def refused_untried(answer: requests.Response) -> bool:
    """A refusal with nothing sent upstream although some option was set aside by a circuit
    (cooling keys are the provider's own word, and may refuse)."""
    if answer.status_code == 200:
        return False
    trail = answer.json()["error"].get("attempts") or []
    sent = [a for a in trail if not a["outcome"].startswith("skipped_")]
    set_aside = ("skipped_circuit_open", "skipped_model_set_aside")
    return not sent and any(a["outcome"] in set_aside for a in trail)


def why(answer: requests.Response) -> str:
    """Served, refused while every key was cooling (the provider's word), or refused after
    an upstream was tried; anything else is a refusal keyrelay made up."""
    if answer.status_code == 200:
        return "served"
    trail = answer.json()["error"].get("attempts") or []
    if trail and all(a["outcome"] == "skipped_cooling" for a in trail):
        return "every key cooling"
    if any(not a["outcome"].startswith("skipped_") for a in trail):
        return "tried"
    return f"{answer.status_code} {[a['outcome'] for a in trail]}"


def test_a_provider_failing_one_request_in_five_keeps_its_share(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Two workers on the state file, 8 clients, 400 requests: the 20%-flaky first tier keeps
    most of what it can serve; with three failures in a row opening it, it served 25-65."""
    flaky, backup = FakeUpstream([MODEL]), FakeUpstream([MODEL])
    try:
        flaky.default = Flaky({"ok": 80, "500": 15, "hang": 5}, seed=7)
        backup.default = lambda hit: _ok(bool((hit.body or {}).get("stream")))
        env = {
            "PROXY_API_KEY": CLIENT_KEY,
            **provider_env("FLAKY", flaky, 1),
            **provider_env("BACKUP", backup, 2),
            "WEB_CONCURRENCY": "2",
            "STATE_URL": f"sqlite:///{tmp_path}/state.db",
            "TIMEOUT_READ": str(READ_TIMEOUT),
        }
        gateway = start_gateway(env, worker_class=None)
        answers = ask_many(gateway.url, 400, clients=8, stream_every=4)
        assert [a.status_code for a in answers] == [200] * 400
        served = Counter(served_by(a) for a in answers)
        assert served["flaky"] >= 280, served  # it answers 80% of what it is asked
        assert not any(refused_untried(a) for a in answers)
    finally:
        flaky.close()
        backup.close()


def test_three_flaky_options_are_tried_rather_than_refused(
    start_gateway: StartGateway, tmp_path: Path
) -> None:
    """Each option: 50% ok, 25% 429 (Retry-After 1), 15% 5xx, 5% hangs, 5% broken answers.
    Every refusal has an upstream tried, or every option's keys cooling."""
    weights = {"ok": 50, "429": 25, "500": 15, "hang": 5, "broken": 5}
    fakes = [FakeUpstream([MODEL]) for _ in range(3)]
    try:
        env = {"PROXY_API_KEY": CLIENT_KEY, "WEB_CONCURRENCY": "2"}
        env["TIMEOUT_READ"] = str(READ_TIMEOUT)
        env["STATE_URL"] = f"sqlite:///{tmp_path}/state.db"
        for n, fake in enumerate(fakes, start=1):
            fake.default = Flaky(weights, seed=n)
            env.update(provider_env(f"OPTION{n}", fake, n, keys=2))
        gateway = start_gateway(env, worker_class=None)
        answers = ask_many(gateway.url, 400, clients=8, stream_every=4)
        assert not [a.json() for a in answers if refused_untried(a)]
        # What is left: answered, a key's Retry-After honoured, or every option tried.
        outcomes = Counter(why(a) for a in answers)
        assert set(outcomes) <= {"served", "every key cooling", "tried"}, outcomes
        assert outcomes["served"] >= 0.75 * (400 - outcomes["every key cooling"]), outcomes
    finally:
        for fake in fakes:
            fake.close()
