"""The console's routes through Flask's test client: sign-in, CSRF, pages, bounds."""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from app import create_app
from providers.state.memory.recent import MAX_ENTRY, MAX_RECENT, InMemoryRecent, bounded
from tests.helpers import CLIENT_KEY, COMPLETION, UPSTREAM, UPSTREAM_KEYS

ADMIN = "admin-console-key-0123456789"
PAGES = ["/console/", "/console/ladder", "/console/keys", "/console/usage",
         "/console/usage.csv", "/console/requests", "/console/try"]  # fmt: skip


@pytest.fixture
def console_app(config: dict[str, str]) -> Iterator[Flask]:
    application = create_app({**config, "ADMIN_API_KEY": ADMIN})
    yield application
    application.extensions["keyrelay"].router.close()


def token_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def signed_in(app: Flask) -> FlaskClient:
    client = app.test_client()
    answer = client.post("/console/login", data={"key": ADMIN})
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/")
    return client


def add_from_console(client: FlaskClient, **fields: str) -> tuple[int, str | None]:
    """Add a client key with the console's form: the status, and the key it showed once."""
    page = client.get("/console/clients").get_data(as_text=True)
    made = client.post("/console/clients/add", data={"csrf": token_of(page), **fields})
    found = re.search(r'id="new-key">(kr-[^<]+)<', made.get_data(as_text=True))
    return made.status_code, found.group(1) if found else None


def test_disabled_without_an_admin_key(client: FlaskClient) -> None:
    answer = client.get("/console/")
    assert answer.status_code == 404 and b"ADMIN_API_KEY" in answer.data


def test_every_page_needs_a_sign_in(console_app: Flask) -> None:
    client = console_app.test_client()
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/login")


def test_the_session_cookie_is_strict_and_http_only(console_app: Flask) -> None:
    client = console_app.test_client()
    answer = client.post("/console/login", data={"key": ADMIN})
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS it is set
    secure = console_app.test_client()
    answer = secure.post("/console/login", data={"key": ADMIN}, base_url="https://localhost")
    assert "Secure" in answer.headers["Set-Cookie"]


def test_a_session_is_valid_in_another_worker_with_the_same_configuration(
    console_app: Flask, config: dict[str, str]
) -> None:
    client = signed_in(console_app)
    cookie = client.get_cookie("keyrelay_console", path="/console")
    assert cookie is not None
    other = create_app({**config, "ADMIN_API_KEY": ADMIN}).test_client()
    other.set_cookie("keyrelay_console", cookie.value, path="/console")
    assert other.get("/console/keys").status_code == 200
    changed = create_app({**config, "ADMIN_API_KEY": ADMIN + "-new"}).test_client()
    changed.set_cookie("keyrelay_console", cookie.value, path="/console")
    assert changed.get("/console/keys").status_code == 302  # a new key signs everyone out


def test_wrong_keys_are_refused_then_limited_and_logged_by_fingerprint(
    console_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = console_app.test_client()
    statuses = [
        client.post("/console/login", data={"key": "wrong-key-secret"}).status_code
        for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5 and statuses[5:] == [429, 429]
    assert "wrong-key-secret" not in caplog.text and "key-" in caplog.text
    # Even the right key waits out the minute.
    assert client.post("/console/login", data={"key": ADMIN}).status_code == 429


def test_posts_need_the_csrf_token(console_app: Flask) -> None:
    client = signed_in(console_app)
    assert client.post("/console/keys/reset", data={"provider": "fake"}).status_code == 403
    assert client.post("/console/logout").status_code == 403


def test_nothing_is_signed_before_sign_in(console_app: Flask) -> None:
    """No cookie to test guesses of the admin key against, offline."""
    client = console_app.test_client()
    assert "Set-Cookie" not in client.get("/console/login").headers
    assert "Set-Cookie" not in client.post("/console/login", data={"key": "guess"}).headers
    assert "Set-Cookie" not in client.get("/console/keys").headers


def test_the_signing_secret_is_a_slow_derivation_of_the_admin_key(console_app: Flask) -> None:
    import hashlib

    fast = hashlib.sha256(b"keyrelay-console-session\0" + ADMIN.encode()).hexdigest()
    assert console_app.secret_key not in (fast, fast.encode(), ADMIN, ADMIN.encode())
    assert console_app.secret_key == hashlib.scrypt(
        ADMIN.encode(), salt=b"keyrelay-console-session", n=2**14, r=8, p=1, dklen=32
    )


def test_sign_out_revokes_the_session_for_every_worker(
    console_app: Flask, config: dict[str, str]
) -> None:
    client = signed_in(console_app)
    cookie = client.get_cookie("keyrelay_console", path="/console")
    assert cookie is not None
    token = token_of(client.get("/console/keys").get_data(as_text=True))
    assert client.post("/console/logout", data={"csrf": token}).status_code == 302
    replayed = console_app.test_client()
    replayed.set_cookie("keyrelay_console", cookie.value, path="/console")
    assert replayed.get("/console/keys").status_code == 302  # the old cookie is dead
    assert signed_in(console_app).get("/console/keys").status_code == 200  # a new one works


def test_a_weak_admin_key_is_warned_about(
    config: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    create_app({**config, "ADMIN_API_KEY": "abc123"}).extensions["keyrelay"].router.close()
    logged = capsys.readouterr().err
    assert "ADMIN_API_KEY is short" in logged and "abc123" not in logged


def test_the_client_address_comes_from_a_trusted_proxy_only(console_app: Flask) -> None:
    from flask import request

    from app.console.auth import client_address

    trusted = ("127.0.0.1", "::1")
    headers = {"X-Forwarded-For": "6.6.6.6, 10.1.2.3"}
    with console_app.test_request_context(
        headers=headers, environ_base={"REMOTE_ADDR": "127.0.0.1"}
    ):
        assert client_address(request, trusted) == "10.1.2.3"  # what the proxy saw
    with console_app.test_request_context(
        headers=headers, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    ):
        assert client_address(request, trusted) == "10.9.9.9"  # a stranger's header is ignored


def test_pages_say_unavailable_while_the_store_is_away(console_app: Flask) -> None:
    from providers import StateUnavailable

    client = signed_in(console_app)

    def away(**_: object) -> None:
        raise StateUnavailable("redis does not answer")

    console_app.extensions["keyrelay"].router.usage.rows = away
    for page in ("/console/keys", "/console/usage", "/console/usage.csv"):
        answer = client.get(page)
        assert answer.status_code == 503 and b"does not answer right now" in answer.data


def test_pages_show_fingerprints_never_keys_and_send_a_strict_csp(
    console_app: Flask, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{UPSTREAM}/chat/completions", status=429, headers={"Retry-After": "60"})
    api = console_app.test_client()
    body = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    headers = {"Authorization": f"Bearer {CLIENT_KEY}"}
    api.post("/v1/chat/completions", json=body, headers=headers).close()  # recorded on close
    client = signed_in(console_app)
    for page in PAGES:
        answer = client.get(page)
        assert answer.status_code == 200, page
        text = answer.get_data(as_text=True)
        assert not any(key in text for key in (*UPSTREAM_KEYS, CLIENT_KEY, ADMIN)), page
        csp = answer.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "speaks chat" in client.get("/console/ladder").get_data(as_text=True)
    keys = client.get("/console/keys").get_data(as_text=True)
    assert "cooling" in keys and "upstream" in keys and "rate_limited (429)" in keys
    usage = client.get("/console/usage").get_data(as_text=True)
    assert usage.count("<svg") >= 3 and "Tokens per key per day" in usage  # provider x2, key
    csv_rows = client.get("/console/usage.csv").get_data(as_text=True).splitlines()
    assert csv_rows[0].startswith("date,provider,key") and len(csv_rows) >= 2
    requests_page = client.get("/console/requests").get_data(as_text=True)
    assert "/v1/chat/completions" in requests_page


def test_lifting_a_block_from_the_keys_page(
    console_app: Flask, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{UPSTREAM}/chat/completions", status=402)
    api = console_app.test_client()
    body = {"model": "fake/fake-model", "messages": [{"role": "user", "content": "Hi"}]}
    api.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {CLIENT_KEY}"})
    router = console_app.extensions["keyrelay"].router
    assert router.providers["fake"].keys.counts()["exhausted"] >= 1
    client = signed_in(console_app)
    token = token_of(client.get("/console/keys").get_data(as_text=True))
    answer = client.post("/console/keys/reset", data={"csrf": token, "provider": "fake"})
    assert answer.status_code == 302 and "lifted=" in answer.headers["Location"]
    assert router.providers["fake"].keys.counts()["exhausted"] == 0


@pytest.mark.parametrize("days", ["²", "-3", "0", "9" * 40, "7.5", ""])
def test_odd_usage_windows_fall_back_to_30_days(console_app: Flask, days: str) -> None:
    client = signed_in(console_app)
    for page in ("/console/usage", "/console/usage.csv"):
        assert client.get(page, query_string={"days": days}).status_code == 200
    assert b"last 30 days" in client.get("/console/usage", query_string={"days": days}).data


def test_the_recent_request_buffer_is_bounded() -> None:
    recent = InMemoryRecent()
    for index in range(MAX_RECENT + 50):
        recent.add({"request_id": str(index), "trail": []})
    kept = recent.latest(10_000)
    assert len(kept) == MAX_RECENT and kept[0]["request_id"] == str(MAX_RECENT + 49)
    huge = {"request_id": "x", "trail": [{"provider": "p" * 100}] * 1000}
    assert len(bounded(huge)) <= MAX_ENTRY


def test_the_ladders_refreshes_write_no_log_line(
    console_app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    client = signed_in(console_app)
    with caplog.at_level("INFO", logger="keyrelay.request"):
        client.get("/console/ladder").close()
        client.get("/console/static/console.js").close()
        client.get("/console/keys").close()
    routes = [r.__dict__.get("fields", {}).get("route") for r in caplog.records]
    assert routes == ["/console/keys"]


def test_the_wrong_key_limit_holds_for_every_worker_sharing_the_state(
    config: dict[str, str], tmp_path: Path
) -> None:
    shared = {**config, "ADMIN_API_KEY": ADMIN, "STATE_URL": f"sqlite:///{tmp_path}/state.db"}
    first, second = create_app(shared), create_app(shared)  # two workers on one state file
    try:
        client = first.test_client()
        for _ in range(5):
            client.post("/console/login", data={"key": "wrong-key-secret"})
        other = second.test_client()
        answer = other.post("/console/login", data={"key": "wrong-key-secret"})
        assert answer.status_code == 429
    finally:
        for application in (first, second):
            application.extensions["keyrelay"].router.close()


def test_client_keys_are_added_shown_once_revoked_and_rotated_from_the_console(
    console_app: Flask,
) -> None:
    client = signed_in(console_app)
    status, key = add_from_console(client, name="alice", rpm="5", models="gpt-*", budget="2.5")
    assert status == 200 and key is not None
    listed = client.get("/console/clients").get_data(as_text=True)
    assert "alice" in listed and "rpm 5" in listed and key not in listed
    bad = client.post("/console/clients/add", data={"csrf": token_of(listed), "name": "alice"})
    assert bad.status_code == 400 and "exists" in bad.get_data(as_text=True)
    with console_app.test_client() as api:
        auth = {"Authorization": f"Bearer {key}"}
        assert api.get("/v1/me", headers=auth).get_json()["name"] == "alice"
        client.post("/console/clients/alice/revoke", data={"csrf": token_of(listed)})
        assert api.get("/v1/me", headers=auth).status_code == 403
        rotated = client.post("/console/clients/alice/rotate", data={"csrf": token_of(listed)})
        new = re.search(r'id="new-key">(kr-[^<]+)<', rotated.get_data(as_text=True))
        assert new is not None and new.group(1) != key
        fresh = {"Authorization": f"Bearer {new.group(1)}"}
        assert api.get("/v1/me", headers=fresh).get_json()["limits"]["rpm"] == 5
        assert api.get("/v1/me", headers=auth).status_code == 401
    assert client.post("/console/clients/nobody/revoke",
                       data={"csrf": token_of(listed)}).status_code == 404  # fmt: skip


def test_try_it_sends_as_a_chosen_client_key_under_its_limits(
    console_app: Flask, mocked: responses.RequestsMock
) -> None:
    mocked.post(f"{UPSTREAM}/chat/completions", json=COMPLETION)
    client = signed_in(console_app)
    add_from_console(client, name="carl", rpm="1", models="fake/other-*")
    page = client.get("/console/try").get_data(as_text=True)
    assert '<option value="carl">client key carl</option>' in page

    def send(model: str, as_client: str) -> str:
        form = {"csrf": token_of(page), "model": model, "prompt": "Hi", "as": as_client}
        return client.post("/console/try/send", data=form).get_data(as_text=True)

    assert "may not use the model &#39;fake/fake-model&#39;" in send("fake/fake-model", "carl")
    assert len(mocked.calls) == 0  # refused before any upstream
    assert "from fake" in send("fake/other-model", "carl")
    assert "requests per minute" in send("fake/other-model", "carl")  # its rpm of 1
    assert "from fake" in send("fake/fake-model", "")  # the operator: no limits
    assert len(mocked.calls) == 2
    entry = next(e for e in console_app.extensions["keyrelay"].router.clients.store.entries()
                 if e.record.name == "carl")  # fmt: skip
    assert sum(entry.window.requests) == 1  # counted as carl's
    route = client.get("/console/try/route", query_string={"model": "fake/other-model",
                                                           "as": "nobody"})  # fmt: skip
    assert route.status_code == 400


def test_a_client_keys_limits_and_expiry_are_changed_from_the_console(
    console_app: Flask,
) -> None:
    client = signed_in(console_app)
    _, key = add_from_console(client, name="dora", rpm="5", budget="3", expires="2099-01-01")
    assert key is not None
    form = client.get("/console/clients/dora/edit").get_data(as_text=True)
    assert 'name="rpm" inputmode="numeric" size="8" value="5"' in form
    assert 'value="2099-01-01"' in form
    changed = {"csrf": token_of(form), "rpm": "2", "models": "fake/*", "expires": "2100-02-03"}
    assert client.post("/console/clients/dora/set", data=changed).status_code == 200
    with console_app.test_client() as api:
        mine = api.get("/v1/me", headers={"Authorization": f"Bearer {key}"}).get_json()
    assert mine["limits"]["rpm"] == 2 and mine["limits"]["models"] == ["fake/*"]
    assert mine["limits"]["budget"] is None  # an empty field lifts the limit
    assert mine["expires"] == calendar.timegm((2100, 2, 3, 0, 0, 0))
    bad = client.post("/console/clients/dora/set", data={**changed, "expires": "soon"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    assert client.get("/console/clients/nobody/edit").status_code == 404
