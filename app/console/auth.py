"""Console sign-in: the admin key on a form, then a signed session cookie.

The cookie is Flask's signed session, ``HttpOnly``, ``SameSite=Strict``, ``Secure``
whenever the request came over HTTPS (directly, or as the proxy headers gunicorn trusts
say), and expires after ``CONSOLE_SESSION_HOURS``. Nothing is signed before sign-in, and
the signing secret is derived from ``ADMIN_API_KEY`` by scrypt (about 16 MiB and tens of
milliseconds a guess), so a cookie is no oracle for guessing the key offline; every worker
and host with the same configuration accepts it, and changing the key signs everyone out.
Signing out revokes the session for every worker (its id is counted as signed out in the
state store). Every POST of a session carries its CSRF token. Wrong keys are counted per
client address (across workers and hosts when the state store is shared) and refused for a
minute after five; each is logged by fingerprint only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import Flask, Request, abort, request, session
from flask.sessions import SecureCookieSessionInterface
from providers import Tally, fingerprint, is_placeholder

log = logging.getLogger(__name__)
#: Wrong keys allowed per client address per window before sign-in is refused.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
_NAME = "console-sign-in:"
_SIGNED_OUT = "console-signed-out:"
#: A signed-out session is refused for this long: longer than any session lives.
REVOKED_FOR = 7 * 86400.0
#: An admin key shorter than this draws a warning at start.
MIN_ADMIN_KEY = 16


class ConsoleSessions(SecureCookieSessionInterface):
    """The signed session cookie, ``Secure`` whenever the request itself was secure."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` over HTTPS (what the request says, after trusted proxy headers)."""
        return bool(request and request.is_secure)


def configure(app: Flask, admin_key: str, hours: float) -> None:
    """Sessions for the console: a secret derived slowly from ``admin_key``, strict cookies."""
    app.secret_key = session_secret(admin_key)
    if len(admin_key) < MIN_ADMIN_KEY or is_placeholder(admin_key):
        log.warning(
            "ADMIN_API_KEY is short or a published placeholder (%d characters): use at least "
            "%d random ones (python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            len(admin_key),
            MIN_ADMIN_KEY,
        )
    app.session_interface = ConsoleSessions()
    app.config.update(
        SESSION_COOKIE_NAME="keyrelay_console",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_COOKIE_PATH="/console",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=hours),
    )


def csrf_token() -> str:
    """This session's CSRF token (made on first use)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(24)
    return token


def check_csrf(req: Request) -> None:
    """Refuse (403) a POST without this session's token, in the form or ``X-CSRF-Token``."""
    sent = req.form.get("csrf") or req.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        abort(403, "The form is stale or was not sent from the console: reload and try again.")


def session_secret(admin_key: str) -> bytes:
    """The cookie signing secret: scrypt of the admin key (slow on purpose)."""
    return hashlib.scrypt(
        admin_key.encode(), salt=b"keyrelay-console-session", n=2**14, r=8, p=1, dklen=32
    )


def signed_in(tally: Tally) -> bool:
    """True when the session belongs to a signed-in operator who has not signed out."""
    sid = session.get("sid")
    if session.get("admin") is not True or not isinstance(sid, str):
        return False
    return tally.count(_SIGNED_OUT + sid, REVOKED_FOR) == 0


def sign_out(tally: Tally) -> None:
    """End the session everywhere: its id counts as signed out for as long as it could live."""
    sid = session.get("sid")
    if isinstance(sid, str):
        tally.add(_SIGNED_OUT + sid, REVOKED_FOR)
    session.clear()


class SignInLimit:
    """Wrong keys per client address over a sliding minute, counted in ``tally`` (shared
    by every worker, and every host on Redis, when the state store is)."""

    def __init__(self, tally: Tally) -> None:
        self._tally = tally

    def blocked(self, address: str) -> bool:
        """True when ``address`` sent too many wrong keys in the last minute."""
        return self._tally.count(_NAME + address, FAILURE_WINDOW) >= MAX_FAILURES

    def failed(self, address: str, presented: str) -> None:
        """Count a wrong key (logged by fingerprint, never as sent)."""
        self._tally.add(_NAME + address, FAILURE_WINDOW)
        log.warning(
            "console sign-in with a wrong key from %s (%s)", address, fingerprint(presented)
        )


def client_address(req: Request, trusted: tuple[str, ...]) -> str:
    """Who sent the request: the peer, or the address the peer's ``X-Forwarded-For`` ends
    with when the peer is a trusted proxy (``FORWARDED_ALLOW_IPS``). The last entry is the
    one the proxy itself saw; entries before it are the client's to write."""
    peer = req.remote_addr or "-"
    if peer not in trusted and "*" not in trusted:
        return peer
    forwarded = req.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
    return forwarded[:64] or peer


def sign_in(presented: str, admin_key: str) -> bool:
    """Start an operator session when ``presented`` is the admin key."""
    if not hmac.compare_digest(presented.encode(), admin_key.encode()):
        return False
    session.clear()
    session.permanent = True
    session["admin"] = True
    session["sid"] = secrets.token_urlsafe(18)
    csrf_token()
    return True
