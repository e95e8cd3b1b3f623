"""The console against strangers, over real sockets: no one without a key can rewrite what it
shows, nothing is signed before sign-in, and one client behind nginx cannot lock out all."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from bench.gunicorn import Gunicorn
from bench.redisserver import RedisServer
from tests.fakes.upstream import FakeUpstream, wait_until

from .helpers import AUTH, StartGateway, fake_env
from .test_deploy import Nginx, needs_nginx

pytestmark = pytest.mark.integration

ADMIN = "admin-key-for-the-console-0123456789"
CHAT = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}


class FromAddress(HTTPAdapter):
    """Connections from one loopback address (127.0.0.0/8 is all this machine's)."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


def client_from(address: str) -> requests.Session:
    session = requests.Session()
    session.mount("http://", FromAddress(address))
    return session


def sign_in(url: str, session: requests.Session | None = None) -> requests.Session:
    session = session or requests.Session()
    answer = session.post(url + "/console/login", data={"key": ADMIN}, allow_redirects=False)
    assert answer.status_code == 302, answer.text
    return session


def entry_links(html: str) -> list[str]:
    return re.findall(r'href="(/console/requests/[^"]+)"', html)


@pytest.fixture
def console(start_gateway: StartGateway, fake: FakeUpstream) -> Gunicorn:
    return start_gateway(fake_env(fake, ADMIN_API_KEY=ADMIN, WEB_CONCURRENCY="2"))


def test_a_flood_of_wrong_keys_leaves_the_requests_page_alone(console: Gunicorn) -> None:
    with requests.Session() as client:
        for n in range(3):
            headers = {**AUTH, "X-Request-ID": f"real-{n}"}
            answer = client.post(console.url + "/v1/chat/completions", json=CHAT, headers=headers)
            assert answer.status_code == 200
        wrong = {"Authorization": "Bearer not-the-key", "X-Request-ID": "real-0"}
        for _ in range(600):
            answer = client.post(console.url + "/v1/chat/completions", json=CHAT, headers=wrong)
            assert answer.status_code == 401
    operator = sign_in(console.url)

    def page() -> str:
        return operator.get(console.url + "/console/requests").text

    # Entries reach the shared store within a second: wait for the three real ones.
    wait_until(lambda: len(entry_links(page())) >= 3, timeout=10, message="the real requests")
    links = entry_links(page())
    assert len(links) == 3  # no stranger's request among them
    details = [operator.get(console.url + link).text for link in links]
    assert sorted(d.count("real-0") > 0 for d in details) == [False, False, True]
    assert all("401" not in d for d in details)  # real-0's detail is the real request's


def test_nothing_is_signed_before_sign_in(console: Gunicorn) -> None:
    with requests.Session() as stranger:
        page = stranger.get(console.url + "/console/login")
        assert page.status_code == 200 and "Set-Cookie" not in page.headers
        wrong = stranger.post(console.url + "/console/login", data={"key": "guess"})
        assert wrong.status_code == 401 and "Set-Cookie" not in wrong.headers
        assert not stranger.cookies


def test_sign_out_revokes_the_cookie_on_every_worker(console: Gunicorn) -> None:
    operator = sign_in(console.url)
    cookie = operator.cookies.get("keyrelay_console", path="/console")
    assert cookie
    token = re.search(r'name="csrf" value="([^"]+)"', operator.get(console.url + "/console/").text)
    assert token is not None
    operator.post(console.url + "/console/logout", data={"csrf": token.group(1)})
    for _ in range(6):  # new connections: either worker may answer
        with requests.Session() as replay:
            replay.cookies.set("keyrelay_console", cookie, path="/console")
            answer = replay.get(console.url + "/console/keys", allow_redirects=False)
            assert answer.status_code == 302


@pytest.fixture
def nginx_console(start_gateway: StartGateway, fake: FakeUpstream) -> Iterator[Nginx]:
    server = Nginx(start_gateway(fake_env(fake, ADMIN_API_KEY=ADMIN)))
    yield server
    server.stop()


@needs_nginx
def test_behind_nginx_one_client_locks_out_only_itself(nginx_console: Nginx) -> None:
    url = nginx_console.url
    with client_from("127.0.0.2") as attacker, client_from("127.0.0.3") as operator:
        spoof = {"X-Forwarded-For": "127.0.0.3"}  # claims to be the operator
        statuses = [
            attacker.post(url + "/console/login", data={"key": "guess"}, headers=spoof).status_code
            for _ in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        sign_in(url, operator)  # another address, not locked out by the attacker
        assert operator.get(url + "/console/keys").status_code == 200


def test_the_console_says_unavailable_while_redis_is_away(
    start_gateway: StartGateway, fake: FakeUpstream, redis_server: RedisServer
) -> None:
    gateway = start_gateway(fake_env(fake, ADMIN_API_KEY=ADMIN, STATE_URL=redis_server.url))
    operator = sign_in(gateway.url)
    assert operator.get(gateway.url + "/console/keys").status_code == 200
    redis_server.stop()
    for page in ("/console/keys", "/console/usage", "/console/usage.csv"):
        answer = operator.get(gateway.url + page)
        assert answer.status_code == 503, (page, answer.status_code)
        assert "does not answer right now" in answer.text and "Traceback" not in answer.text
    assert operator.get(gateway.url + "/console/").status_code == 200  # the ladder still shows
