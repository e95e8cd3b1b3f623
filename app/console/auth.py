"""Console sign-in: the admin key on a form, then a signed session cookie.

The cookie is Flask's signed session, ``HttpOnly``, ``SameSite=Strict``, ``Secure``
whenever the request came over HTTPS (directly, or as the proxy headers gunicorn trusts
say), and expires after ``CONSOLE_SESSION_HOURS``. Its signing secret is derived from
``ADMIN_API_KEY``, so every worker and host with the same configuration accepts it and
changing the key signs everyone out. Every POST carries the session's CSRF token.
Wrong keys are counted per client address (across workers and hosts when the state store
is shared) and refused for a minute after five; each is logged by fingerprint only.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

from flask import Flask, Request, abort, request, session
from flask.sessions import SecureCookieSessionInterface
from providers import Tally, fingerprint

log = logging.getLogger(__name__)
#: Wrong keys allowed per client address per window before sign-in is refused.
MAX_FAILURES = 5
FAILURE_WINDOW = 60.0
_NAME = "console-sign-in:"


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


def sign_in(presented: str, admin_key: str) -> bool:
    """Start an operator session when ``presented`` is the admin key."""
    if not hmac.compare_digest(presented.encode(), admin_key.encode()):
        return False
    session.clear()
    session.permanent = True
    session["admin"] = True
    csrf_token()
    return True
