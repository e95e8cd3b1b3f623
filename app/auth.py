"""Client authentication: client keys kept as records (read from the state store on every
request, so a revocation holds at once), and the ``PROXY_API_KEY`` keys, unlimited,
compared in constant time."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import TypeVar

from flask import current_app, g, request
from providers import PROXY_KEY_NAME, Caller, ClientRefused, StateUnavailable

from app.clients.refusals import refused, store_away
from app.errors import APIError
from app.gateway import gateway


def presented_key() -> str | None:
    """The key the client sent as ``Authorization: Bearer`` or ``x-api-key``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.headers.get("x-api-key", "").strip() or None


def key_matches(presented: str | None, keys: tuple[str, ...]) -> bool:
    """True when ``presented`` is one of ``keys`` (compared against every key, in constant time)."""
    if presented is None:
        return False
    given = presented.encode()
    matched = False
    for key in keys:  # compare against every key, so timing reveals nothing
        matched |= hmac.compare_digest(given, key.encode())
    return matched


def may_see_details() -> bool:
    """True when the request carries a client key or METRICS_API_KEY (or neither is set)."""
    settings = gateway().settings
    keys = settings.client_keys + ((settings.metrics_key,) if settings.metrics_key else ())
    presented = presented_key()
    if presented is not None and _caller_of(presented) is not None:
        return True
    return (not keys and not gateway().client_keys_exist()) or key_matches(presented, keys)


View = TypeVar("View", bound=Callable[..., object])


def admits(view: View) -> View:
    """Mark a view that admits its request (``app.clients.admission.admit``): the store is
    asked about its client key there, so authentication may recall the record seen last."""
    view.keyrelay_admits = True  # type: ignore[attr-defined]
    return view


def _admitted_later() -> bool:
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "keyrelay_admits", False))


def _caller_of(presented: str, *, confirm: bool = True) -> Caller | None:
    """Who a client key is, or None; 403 (revoked, expired), 503 if the store is away and
    never saw the key."""
    try:
        return gateway().router.clients.verify(presented, confirm=confirm)
    except ClientRefused as exc:
        raise refused(exc) from None
    except StateUnavailable:
        raise store_away() from None


def confirmed_caller() -> Caller | None:
    """This request's client key as the store holds it now (kept as the request's)."""
    presented = presented_key()
    caller = _caller_of(presented) if presented is not None else None
    if caller is not None:
        act_as(caller)
    return caller


def _missing_key_message() -> str:
    """Why no key was found, naming what the client got wrong (never echoing what it sent)."""
    header = request.headers.get("Authorization", "").strip()
    if not header:
        return (
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>' "
            "or in an 'x-api-key' header."
        )
    scheme, _, token = header.partition(" ")
    if not token.strip():
        return (
            "The Authorization header has no 'Bearer ' scheme: send "
            "'Authorization: Bearer <key>' (or the key alone in an 'x-api-key' header)."
        )
    shown = scheme if scheme.isalpha() and len(scheme) <= 20 else "that"
    return (
        f"The Authorization scheme '{shown}' is not supported: send "
        "'Authorization: Bearer <key>' (or the key alone in an 'x-api-key' header)."
    )


def authenticated() -> None:
    """The caller of this request proved who it is (its client key, or its console session):
    only such requests are kept among the recent ones the console shows."""
    g.authenticated = True


def require_client_key() -> None:
    """Reject the request unless it carries a client key (a record's, or PROXY_API_KEY's)."""
    presented = presented_key()
    caller = None
    if presented is not None:
        caller = _caller_of(presented, confirm=not _admitted_later())
    if caller is not None:
        act_as(caller)
        authenticated()
        return
    keys = gateway().settings.client_keys
    if not keys and not gateway().client_keys_exist():
        authenticated()  # an open proxy: every caller is a client
        return
    if presented is None:
        raise APIError(401, _missing_key_message(), code="missing_api_key")
    if not key_matches(presented, keys):
        raise APIError(401, "Incorrect API key provided.", code="invalid_api_key")
    _note_client(PROXY_KEY_NAME)
    authenticated()


def act_as(caller: Caller) -> None:
    """This request is ``caller``'s: its record's limits apply and it is counted as its."""
    g.client, g.caller = caller.record, caller
    _note_client(caller.record.name)


def _note_client(name: str) -> None:
    record = g.get("record")
    if record is not None:
        record.client = name
