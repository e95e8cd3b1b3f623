"""Session affinity: a session's next turn goes where its last turn was served.

Providers cache a conversation's prefix per account or key; a turn that lands where the
last one did pays a fraction of the input price and answers sooner. The pin (provider,
key) lives in the state store, so every worker and host agrees; it is read once per
turn and written only when it moves or a quarter of its life is left. Affinity orders
nothing across tiers: the pinned provider goes first among the candidates of its own
tier, and its key is preferred while usable; cooldowns, circuits, ``X-Fallback``,
``X-Max-Tier`` and the deadline are the walk's as ever.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from providers.state.contract import PinStore
from providers.state.records import Pin

from .attempts import Served
from .resolve import Candidate

#: A pin is written again once less than this share of its life is left.
RENEW_SHARE = 0.75


class Affinity:
    """Reads, applies and keeps sessions' pins; one per router."""

    def __init__(
        self, pins: PinStore, idle_seconds: float, clock: Callable[[], float] = time.time
    ) -> None:
        self._pins = pins
        self._idle = idle_seconds
        self._clock: Callable[[], float] = pins.clock or clock

    def pinned(self, session: str | None) -> Pin | None:
        """Where the session's last turn was served (one store read), if it is a session."""
        return self._pins.get(session, self._clock()) if session else None

    def keep(self, session: str | None, pin: Pin | None, served: Served) -> None:
        """Pin the session where this turn was served, when that moved it or renews it."""
        if not session or served.cached:
            return
        now = self._clock()
        fresh = pin is not None and pin.until - now > RENEW_SHARE * self._idle
        if fresh and pin is not None and (pin.provider, pin.key) == (served.provider, served.key):
            return
        self._pins.put(session, Pin(served.provider, served.key, now + self._idle), now)


def pinned_first(chain: list[Candidate], pin: Pin | None) -> list[Candidate]:
    """``chain`` with the pinned provider first among the candidates of its tier."""
    if pin is None:
        return chain
    at = next(
        (i for i, c in enumerate(chain) if c.provider.name == pin.provider and c.skip is None),
        None,
    )
    if at is None:
        return chain
    tier, start = chain[at].provider.tier, at
    while start > 0 and chain[start - 1].provider.tier == tier:
        start -= 1
    if start == at:
        return chain
    return [*chain[:start], chain[at], *chain[start:at], *chain[at + 1 :]]


def preferred(pin: Pin | None) -> dict[str, str]:
    """The key to prefer, by provider."""
    return {pin.provider: pin.key} if pin is not None else {}
