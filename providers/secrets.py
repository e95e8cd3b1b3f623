"""Keeping secrets out of everything we print: fingerprints and redaction."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

#: Shapes of well-known provider keys, redacted even when we do not hold them.
_KEY_SHAPES = re.compile(
    r"(?:sk-(?:proj-|ant-|or-v1-)?|gsk_|nvapi-|xai-|AIza|csk-|tgp_v1_|kr-)[A-Za-z0-9_\-]{12,}"
)


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced, for pages, logs and the CLI."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return urlunsplit(parts._replace(netloc=f"***@{host}"))


def url_secrets(url: str) -> tuple[str, ...]:
    """The credentials written into ``url``, so that a Redactor can hide them in text."""
    parts = urlsplit(url)
    return tuple(s for s in (parts.username, parts.password) if s)


#: Hex digits of a fingerprint: 64 bits, so that two keys of a pool never share one in
#: practice (8 digits collided after about 100,000 keys; a team with thousands is in range).
FINGERPRINT_DIGITS = 16


def fingerprint(secret: str) -> str:
    """Return a short, stable, non-reversible name for a secret."""
    if not secret:
        return "keyless"
    return "key-" + hashlib.sha256(secret.encode()).hexdigest()[:FINGERPRINT_DIGITS]


class Redactor:
    """Replaces known secrets, and anything shaped like a provider key, in text."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a key that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        """Return ``text`` with every secret replaced by its fingerprint."""
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, fingerprint(secret))
        return _KEY_SHAPES.sub(lambda m: fingerprint(m.group(0)), text)
