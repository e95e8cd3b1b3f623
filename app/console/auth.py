"""Console sign-in: the admin key on a form, then a signed session cookie.

The cookie is Flask's signed session, ``HttpOnly``, ``SameSite=Strict``, ``Secure``
whenever the request came over HTTPS (directly, or as the proxy headers gunicorn trusts
say), and expires after ``CONSOLE_SESSION_HOURS``. Its signing secret is derived from
``ADMIN_API_KEY``, so every worker and host with the same configuration accepts it and
changing the key signs everyone out. Every POST carries the session's CSRF token.
Wrong keys are counted per client address and refused for a minute after five; each
is logged by fingerprint only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict
from datetime import timedelta

from flask import Flask, Request, abort, request, session
from flask.sessions import SecureCookieSessionInterface
from providers import fingerprint

log = logging.getLogger(__name__)
#: Wrong keys allowed per client address per window before sign-in is refused.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
#: Client addresses remembered for the limit (the oldest forgotten first).
MAX_TRACKED = 1024


class ConsoleSessions(SecureCookieSessionInterface):
    """The signed session cookie, ``Secure`` whenever the request itself was secure."""

    def get_cookie_secure(self, app: Flask) -> bool:
        """``Secure`` over HTTPS (what the request says, after trusted proxy headers)."""
        return bool(request and request.is_secure)


def configure(app: Flask, admin_key: str, hours: float) -> None:
    """Sessions for the console: a secret derived from ``admin_key``, strict cookies."""
    app.secret_key = hashlib.sha256(b"keyrelay-console-session\0" + admin_key.encode()).hexdigest()
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


def signed_in() -> bool:
    """True when the session belongs to a signed-in operator."""
    return session.get("admin") is True


class SignInLimit:
    """Wrong keys per client address, over a sliding minute (bounded)."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, list[float]] = OrderedDict()
        self._lock = threading.Lock()

    def blocked(self, address: str) -> bool:
        """True when ``address`` sent too many wrong keys in the last minute."""
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._failures.get(address, []) if now - t < FAILURE_WINDOW]
            return len(recent) >= MAX_FAILURES

    def failed(self, address: str, presented: str) -> None:
        """Count a wrong key (logged by fingerprint, never as sent)."""
        now = time.monotonic()
        with self._lock:
            times = [t for t in self._failures.pop(address, []) if now - t < FAILURE_WINDOW]
            self._failures[address] = [*times, now][-MAX_FAILURES:]
            while len(self._failures) > MAX_TRACKED:
                self._failures.popitem(last=False)
        log.warning(
            "console sign-in with a wrong key from %s (%s)", address, fingerprint(presented)
        )


def sign_in(presented: str, admin_key: str) -> bool:
    """Start an operator session when ``presented`` is the admin key."""
    if not hmac.compare_digest(presented.encode(), admin_key.encode()):
        return False
    session.clear()
    session.permanent = True
    session["admin"] = True
    csrf_token()
    return True
