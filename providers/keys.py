"""Key rotation: which key of a provider to use next, and what each outcome does to it.

State lives behind ``KeyStore`` so that a shared store (one that several gunicorn
workers or hosts see) can replace the in-process one. Stores are addressed by key
fingerprints, never by the secrets themselves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from .errors import KeyRejected, ProviderError, QuotaExhausted, RateLimited
from .secrets import fingerprint

USABLE = "usable"
COOLING = "cooling"
DISABLED = "disabled"
EXHAUSTED = "exhausted"


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

    def block(self, pool: str, key_id: str, *, until: float, reason: str, strike: bool) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        ...

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked."""
        ...

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key."""
        ...


class InMemoryKeyStore:
    """Key state in this process, guarded by one lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[tuple[str, str], KeyState] = {}

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
        with self._lock:
            best: tuple[int, float] | None = None
            chosen = None
            for key_id in key_ids:
                if key_id in exclude:
                    continue
                state = self._states.get((pool, key_id), _FRESH)
                if state.blocked_until > now:
                    continue
                if max_in_flight is not None and state.in_flight >= max_in_flight:
                    continue
                rank = (state.in_flight, state.last_used)
                if best is None or rank < best:
                    best, chosen = rank, key_id
            if chosen is None:
                return None
            state = self._states.get((pool, chosen), _FRESH)
            self._states[(pool, chosen)] = replace(
                state, in_flight=state.in_flight + 1, last_used=now
            )
            return chosen

    def release(self, pool: str, key_id: str) -> None:
        """Give back a key reserved by ``acquire``."""
        with self._lock:
            state = self._states.get((pool, key_id), _FRESH)
            self._states[(pool, key_id)] = replace(state, in_flight=max(0, state.in_flight - 1))

    def block(self, pool: str, key_id: str, *, until: float, reason: str, strike: bool) -> None:
        """Block a key until ``until``; an existing later block is never shortened."""
        with self._lock:
            state = self._states.get((pool, key_id), _FRESH)
            if state.blocked_until >= until:
                until, reason = state.blocked_until, state.reason
            strikes = state.strikes + 1 if strike else state.strikes
            self._states[(pool, key_id)] = replace(
                state, blocked_until=until, reason=reason, strikes=strikes
            )

    def succeeded(self, pool: str, key_id: str) -> None:
        """Clear the rate-limit strikes of a key that just worked."""
        with self._lock:
            state = self._states.get((pool, key_id))
            if state is not None and state.strikes:
                self._states[(pool, key_id)] = replace(state, strikes=0)

    def snapshot(self, pool: str, key_ids: Sequence[str]) -> dict[str, KeyState]:
        """Return the state of each key."""
        with self._lock:
            return {k: self._states.get((pool, k), _FRESH) for k in key_ids}


_FRESH = KeyState()


@dataclass(frozen=True)
class KeyPolicy:
    """How long each outcome keeps a key out of rotation, in seconds."""

    rate_limit_cooldown: float = 10.0
    max_cooldown: float = 86400.0
    auth_failure_cooldown: float = 21600.0
    quota_cooldown: float = 3600.0


@dataclass
class Lease:
    """A key reserved for one upstream request; give it back with ``KeyPool.release``."""

    key_id: str
    secret: str = ""
    released: bool = False

    def __repr__(self) -> str:
        return f"Lease({self.key_id})"


class KeyPool:
    """The keys of one provider and the rules that rotate between them."""

    def __init__(
        self,
        name: str,
        secrets: Sequence[str],
        store: KeyStore,
        *,
        policy: KeyPolicy | None = None,
        max_in_flight: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        # A keyless provider (a local server) has one pseudo-key: the empty secret.
        self._secrets = {fingerprint(s): s for s in (secrets or [""])}
        self.key_ids = tuple(self._secrets)
        self._store = store
        self._policy = policy or KeyPolicy()
        self._max_in_flight = max_in_flight
        self._clock = clock

    @property
    def keyless(self) -> bool:
        """True for a provider that takes no key."""
        return self.key_ids == ("keyless",)

    def acquire(self, exclude: Collection[str] = ()) -> Lease | None:
        """Reserve the best usable key not in ``exclude``, or return None."""
        key_id = self._store.acquire(
            self.name,
            self.key_ids,
            exclude=exclude,
            max_in_flight=self._max_in_flight,
            now=self._clock(),
        )
        return None if key_id is None else Lease(key_id, self._secrets[key_id])

    def release(self, lease: Lease) -> None:
        """Give a key back; safe to call more than once."""
        if not lease.released:
            lease.released = True
            self._store.release(self.name, lease.key_id)

    def record(self, lease: Lease, error: ProviderError | None) -> None:
        """Apply an upstream outcome to the key that produced it."""
        if error is None:
            self._store.succeeded(self.name, lease.key_id)
            return
        now = self._clock()
        policy = self._policy
        if isinstance(error, RateLimited):
            if error.retry_after is not None:
                wait, strike = error.retry_after, False
            else:
                strikes = self._store.snapshot(self.name, [lease.key_id])[lease.key_id].strikes
                wait, strike = policy.rate_limit_cooldown * 2 ** min(strikes, 16), True
            until, reason = now + min(wait, policy.max_cooldown), COOLING
        elif isinstance(error, QuotaExhausted):
            until, reason, strike = now + policy.quota_cooldown, EXHAUSTED, False
        elif isinstance(error, KeyRejected):
            until, reason, strike = now + policy.auth_failure_cooldown, DISABLED, False
        else:
            return
        self._store.block(self.name, lease.key_id, until=until, reason=reason, strike=strike)

    def states(self) -> dict[str, KeyState]:
        """Return each key's state by fingerprint."""
        return self._store.snapshot(self.name, self.key_ids)

    def describe(self) -> list[dict[str, object]]:
        """Each key by fingerprint: status, requests in flight, seconds until usable."""
        now = self._clock()
        return [
            {
                "key": key_id,
                "status": state.status(now),
                "in_flight": state.in_flight,
                "available_in": round(max(0.0, state.blocked_until - now), 3),
            }
            for key_id, state in self.states().items()
        ]

    def counts(self) -> dict[str, int]:
        """Count keys by status: usable, cooling, disabled, exhausted."""
        now = self._clock()
        counts = {USABLE: 0, COOLING: 0, DISABLED: 0, EXHAUSTED: 0}
        for state in self.states().values():
            counts[state.status(now)] += 1
        return counts

    def next_available_in(self) -> float | None:
        """Seconds until the first blocked key becomes usable, or None if none is blocked."""
        now = self._clock()
        waits = [s.blocked_until - now for s in self.states().values() if s.blocked_until > now]
        return min(waits) if waits else None
