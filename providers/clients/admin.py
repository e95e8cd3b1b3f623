"""The operator's changes to client keys: add, change limits, revoke, rotate.

Each is one atomic change in the store, so every worker and host sees it on its next
request. They raise ``StateUnavailable`` rather than change one process's copy only.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Callable
from dataclasses import replace

from providers.state.contract import ClientStore

from .records import MAX_PATTERNS, NAME, ClientEntry, ClientRecord, Limits
from .secret import digest, new_key


class ClientAdminError(ValueError):
    """An operator's change that cannot be made (a bad or taken name, an unknown key)."""


def check_limits(limits: Limits) -> Limits:
    """``limits`` if they are consistent (``ClientAdminError`` naming what is not)."""
    for kind in ("models", "groups", "providers"):
        patterns = getattr(limits, kind)
        if len(patterns) > MAX_PATTERNS or any(not p or len(p) > 256 for p in patterns):
            raise ClientAdminError(f"--{kind}: at most {MAX_PATTERNS} patterns of 1-256 chars")
    if limits.budget is not None and limits.budget < 0:
        raise ClientAdminError("--budget must be at least 0")
    return limits


def parse_expiry(raw: str) -> float | None:
    """``YYYY-MM-DD`` (UTC midnight) as epoch seconds; None for '' or 'never'."""
    if raw.strip().lower() in ("", "never"):
        return None
    try:
        return float(calendar.timegm(time.strptime(raw.strip(), "%Y-%m-%d")))
    except ValueError:
        raise ClientAdminError(f"{raw[:40]!r} is not a date as YYYY-MM-DD, or 'never'") from None


def add_client(store: ClientStore, pepper: str, name: str, limits: Limits,
        expires: float | None = None) -> tuple[str, ClientRecord]:  # fmt: skip
    """A new client key named ``name``: the key (shown once) and its record."""
    if not NAME.match(name):
        raise ClientAdminError(
            f"{name[:80]!r} is not a client key name: 1-64 letters, digits, '.', '_', '-' or "
            "'@', starting with a letter or digit"
        )
    key, prefix = new_key()
    record = ClientRecord(name, prefix, digest(key, pepper), check_limits(limits),
                          time.time(), expires)  # fmt: skip
    if not store.create(ClientEntry(record)):
        raise ClientAdminError(f"a client key named {name!r} exists: use set or rotate")
    return key, record


def edit_client(
    store: ClientStore, name: str, fn: Callable[[ClientRecord], ClientRecord]
) -> ClientRecord:
    """The record of ``name`` after ``fn`` changed it."""
    changed = store.edit(name, lambda e: e.with_record(fn(e.record)))
    if changed is None:
        raise ClientAdminError(f"no client key is named {name!r} (see clients list)")
    return changed.record


def set_client_limits(store: ClientStore, name: str, limits: Limits,
               expires: float | None) -> ClientRecord:  # fmt: skip
    """Replace the limits (and expiry) of ``name``."""
    checked = check_limits(limits)
    return edit_client(store, name, lambda r: replace(r, limits=checked, expires=expires))


def revoke_client(store: ClientStore, name: str) -> ClientRecord:
    """Refuse ``name``'s key from its next request on, on every worker and host."""
    now = time.time()
    return edit_client(
        store, name, lambda r: r if r.revoked is not None else replace(r, revoked=now)
    )


def rotate_client(store: ClientStore, pepper: str, name: str) -> str:
    """A new key for ``name`` (its limits, window and usage kept); the old one stops now."""
    key, prefix = new_key()
    edit_client(
        store, name, lambda r: replace(r, prefix=prefix, digest=digest(key, pepper), revoked=None)
    )
    return key
