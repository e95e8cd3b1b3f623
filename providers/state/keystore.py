"""Where key state lives: each key's block, in-flight count and last use, by fingerprint.

``KeyStore`` is the interface every store implements (``providers.state.memkeys`` keeps state in
this process; SQLite and Redis share it). Stores see fingerprints, never keys.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class KeyStatus(StrEnum):
    """Whether a key may be used now, or why not."""

    USABLE = "usable"
    COOLING = "cooling"
    DISABLED = "disabled"
    EXHAUSTED = "exhausted"


USABLE, COOLING, DISABLED, EXHAUSTED = (
    KeyStatus.USABLE,
    KeyStatus.COOLING,
    KeyStatus.DISABLED,
    KeyStatus.EXHAUSTED,
)


class BlockSource(StrEnum):
    """Where a block's duration came from."""

    #: The upstream said how long: Retry-After or a rate-limit reset header.
    UPSTREAM = "upstream"
    #: keyrelay's own cooldown (KEY_COOLDOWN_*, the doubling 429 backoff).
    DEFAULT = "default"


class StateUnavailable(Exception):
    """A shared state store could not answer within ``STATE_TIMEOUT`` (or is known down)."""


@dataclass(frozen=True)
class KeyState:
    """A snapshot of one key's state."""

    in_flight: int = 0
    last_used: float = 0.0
    blocked_until: float = 0.0
    #: Why the key is blocked: COOLING (429), DISABLED (401/403) or EXHAUSTED (quota).
    reason: str = USABLE
    #: Consecutive 429s without a Retry-After, for the default backoff.
    strikes: int = 0
    #: Where the current block's duration came from (a ``BlockSource``; "" if never blocked).
    source: str = ""

    def status(self, now: float) -> str:
        """Return USABLE, or why the key cannot be used until ``blocked_until``."""
        return self.reason if self.blocked_until > now else USABLE


class KeyStore(Protocol):
    """Where key state is kept; every method must be safe to call from many threads."""

    def acquire(
        self,
        pool: str,
        key_ids: Sequence[str],
        *,
        exclude: Collection[str],
        max_in_flight: int | None,
        now: float,
    ) -> str | None:
        """Reserve the least busy, least recently used usable key, or return None."""
        ...

    def release(self, pool: str, key_id: str) -> None:
        """Give back a key reserved by ``acquire``."""
        ...

    def block(
        self,
        pool: str,
        key_id: str,
        *,
        until: float,
        reason: str,
        strike: bool,
        now: float,
        source: str = BlockSource.DEFAULT,
    ) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        ...

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked."""
        ...

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key."""
        ...

    def counts(self, pool: str, key_ids: Sequence[str], now: float) -> dict[str, int]:
        """Count keys by status (usable, cooling, disabled, exhausted)."""
        ...

    def next_available(self, pool: str, key_ids: Sequence[str], now: float) -> float | None:
        """When (``now``'s clock) the first blocked key becomes usable, or None."""
        ...

    def unblock(self, pool: str, key_id: str) -> None:
        """Lift a key's block and strikes (an operator replaced or topped up the key)."""
        ...
