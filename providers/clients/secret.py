"""Client keys: made at random, shown once, kept as a prefix and a keyed hash.

A key reads ``kr-<prefix>-<secret>``: the prefix (8 characters) finds its record, the
secret (32 characters, about 190 bits) is checked against an HMAC-SHA256 of the whole key
under ``CLIENT_KEY_SECRET``. Nothing that could give the key back is ever stored.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string

SCHEME = "kr-"
_PREFIX_ALPHABET = string.ascii_lowercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits
_SHAPE = re.compile(r"^kr-([a-z0-9]{8})-([A-Za-z0-9]{32})$")
#: The hash's key when ``CLIENT_KEY_SECRET`` is not set (it then only separates domains).
DEFAULT_PEPPER = "keyrelay client key v1"


def new_key() -> tuple[str, str]:
    """A fresh key and its prefix."""
    prefix = "".join(secrets.choice(_PREFIX_ALPHABET) for _ in range(8))
    secret = "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(32))
    return f"{SCHEME}{prefix}-{secret}", prefix


def prefix_of(key: str) -> str | None:
    """The prefix of a well-formed client key, or None (a ``PROXY_API_KEY`` or a typo)."""
    found = _SHAPE.match(key)
    return found.group(1) if found else None


def digest(key: str, pepper: str) -> str:
    """The keyed hash a record keeps of ``key``."""
    return hmac.new((pepper or DEFAULT_PEPPER).encode(), key.encode(), hashlib.sha256).hexdigest()


def matches(key: str, kept: str, pepper: str) -> bool:
    """True when ``key`` hashes to ``kept`` (compared in constant time)."""
    return hmac.compare_digest(digest(key, pepper), kept)
