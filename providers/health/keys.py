"""Key rotation: which key of a provider to use next, and what each outcome does to it.

State lives behind ``KeyStore`` (``providers.state.contract``), addressed by fingerprints.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass

from providers.config.shape import RoutingConfig
from providers.errors import KeyRejected, ProviderError, QuotaExhausted, RateLimited
from providers.secrets import fingerprint
from providers.state.contract import KeyStore
from providers.state.records import COOLING, DISABLED, EXHAUSTED, BlockSource, KeyState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KeySnapshot:
    """One key, by fingerprint, as pages and the CLI show it."""

    key: str
    status: str
    in_flight: int
    available_in: float
    #: Consecutive 429s without a Retry-After (the default backoff doubles with each).
    strikes: int = 0
    #: Where the block's duration came from: "upstream" (Retry-After, reset headers) or
    #: "default" (keyrelay's cooldown); "" when the key is usable.
    blocked_by: str = ""


@dataclass(frozen=True)
class KeyPolicy:
    """How long each outcome keeps a key out of rotation, in seconds (defaults: RoutingConfig)."""

    rate_limit_cooldown: float = RoutingConfig.rate_limit_cooldown
    max_cooldown: float = RoutingConfig.max_cooldown
    auth_failure_cooldown: float = RoutingConfig.auth_failure_cooldown
    quota_cooldown: float = RoutingConfig.quota_cooldown

    @classmethod
    def from_routing(cls, routing: RoutingConfig) -> KeyPolicy:
        """The policy a routing configuration sets."""
        return cls(
            rate_limit_cooldown=routing.rate_limit_cooldown,
            max_cooldown=routing.max_cooldown,
            auth_failure_cooldown=routing.auth_failure_cooldown,
            quota_cooldown=routing.quota_cooldown,
        )


@dataclass
class Lease:
    """A key reserved for one upstream request; give it back with ``KeyPool.release``."""

    key_id: str
    secret: str = ""
    released: bool = False

    def __repr__(self) -> str:
        return f"Lease({self.key_id})"


def named_by_fingerprint(pool: str, secrets: Sequence[str]) -> dict[str, str]:
    """Each distinct secret by its fingerprint; one that shares another's fingerprint (never
    seen in practice at 64 bits) is named apart, with a warning, rather than lost."""
    named: dict[str, str] = {}
    for secret in secrets:
        name = fingerprint(secret)
        if named.get(name, secret) != secret:
            name = next(
                f"{name}-{n}" for n in range(2, len(secrets) + 2) if f"{name}-{n}" not in named
            )
            log.warning(
                "two keys of %s share the fingerprint of %s: one is named %s",
                pool,
                name.rsplit("-", 1)[0],
                name,
            )
        named.setdefault(name, secret)
    return named


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
        on_release: Callable[[str], None] | None = None,
        sequential: bool = False,
    ) -> None:
        self.name = name
        #: ``ROTATION_MODE_<P>=sequential``: the first usable key in the configured order.
        self.sequential = sequential
        #: Told the pool's name when a key is given back (requests may wait for a slot).
        self._on_release = on_release if max_in_flight else None
        # A keyless provider (a local server) has one pseudo-key: the empty secret.
        self._secrets = named_by_fingerprint(name, secrets or [""])
        self.key_ids = tuple(self._secrets)
        self._store = store
        self._policy = policy or KeyPolicy()
        self._max_in_flight = max_in_flight
        # A shared store keeps wall-clock times, the same in every process and after a restart.
        self._clock: Callable[[], float] = store.clock or clock

    @property
    def keyless(self) -> bool:
        """True for a provider that takes no key."""
        return self.key_ids == ("keyless",)

    def acquire(self, exclude: Collection[str] = (), prefer: str | None = None) -> Lease | None:
        """Reserve a usable key not in ``exclude``, or return None: ``prefer`` (a session's
        key) while it is usable, else the first usable in order (sequential) or the least
        busy, least recently used (balanced)."""
        if prefer is not None and prefer in self._secrets and prefer not in exclude:
            lease = self._only(prefer)
            if lease is not None:
                return lease
            exclude = {*exclude, prefer}
        if self.sequential:
            for key_id in self.key_ids:
                if key_id not in exclude and (lease := self._only(key_id)) is not None:
                    return lease
            return None
        return self._take(exclude)

    def _only(self, key_id: str) -> Lease | None:
        """``key_id`` if it is usable now (every other key excluded)."""
        return self._take([k for k in self.key_ids if k != key_id])

    def _take(self, exclude: Collection[str]) -> Lease | None:
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
            if self._on_release is not None:
                self._on_release(self.name)

    def record(self, lease: Lease, error: ProviderError | None) -> None:
        """Apply an upstream outcome to the key that produced it."""
        if error is None:
            self._store.succeeded(self.name, lease.key_id)
            return
        now = self._clock()
        policy = self._policy
        source = BlockSource.DEFAULT
        if isinstance(error, RateLimited):
            if error.retry_after is not None:
                wait, strike, source = error.retry_after, False, BlockSource.UPSTREAM
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
        self._store.block(
            self.name,
            lease.key_id,
            until=until,
            reason=reason,
            strike=strike,
            now=now,
            source=source,
        )

    def states(self) -> dict[str, KeyState]:
        """Return each key's state by fingerprint."""
        return self._store.snapshot(self.name, self.key_ids)

    def describe(self) -> list[KeySnapshot]:
        """Each key by fingerprint: status, requests in flight, seconds until usable."""
        now = self._clock()
        return [
            KeySnapshot(
                key=key_id,
                status=str(state.status(now)),
                in_flight=state.in_flight,
                available_in=round(max(0.0, state.blocked_until - now), 3),
                strikes=state.strikes,
                blocked_by=state.source if state.blocked_until > now else "",
            )
            for key_id, state in self.states().items()
        ]

    def counts(self) -> dict[str, int]:
        """Count keys by status: usable, cooling, disabled, exhausted."""
        return self._store.counts(self.name, self.key_ids, self._clock())

    def unblock(self, key_id: str | None = None) -> list[str]:
        """Lift the blocks of one key (by fingerprint) or of every key; the ones lifted."""
        states = self.states()
        if key_id is not None and key_id not in states:
            raise KeyError(key_id)
        now = self._clock()
        lifted = [
            k
            for k, state in states.items()
            if (key_id is None or k == key_id) and (state.blocked_until > now or state.strikes)
        ]
        for k in lifted:
            self._store.unblock(self.name, k)
        return lifted

    def next_available_in(self) -> float | None:
        """Seconds until the first blocked key becomes usable, or None if none is blocked."""
        now = self._clock()
        until = self._store.next_available(self.name, self.key_ids, now)
        return None if until is None else until - now
