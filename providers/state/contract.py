"""The state contract: every kind of state keyrelay keeps, and its abilities.

Each kind (key state, circuits, 404 marks, the last requests, tallies, usage) has one
protocol here, its records in ``providers.state.records``, and three implementations:
``memory/`` (this process), ``sqlite/`` (the host's state file) and ``redis/`` (the
fleet). Stores see fingerprints, never keys.
A shared store that cannot answer raises ``StateUnavailable``, whatever its backend.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from providers.clients.records import ClientEntry
from providers.clients.window import Ask, Verdict
from providers.state.records import (
    BlockSource,
    CircuitRecord,
    ClientUsageRow,
    KeyState,
    Pin,
    Tokens,
    UsageRow,
)

if TYPE_CHECKING:
    from providers.state.fallback import Standby

T = TypeVar("T")


class StateUnavailable(Exception):
    """A shared state store could not answer within ``STATE_TIMEOUT`` (or is known down)."""


class KeyStore(Protocol):
    """Where key state is kept; every method must be safe to call from many threads."""

    #: The clock its times are on: wall-clock in shared stores, None (the caller's) here.
    clock: Callable[[], float] | None
    #: Whether its backend answers (this process's stores always do).
    standby: Standby
    #: Told how long each call to a shared store took, in seconds (metrics); None: untimed.
    on_latency: Callable[[float], None] | None

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


class CircuitStore(Protocol):
    """Where circuit records live; ``change`` is atomic."""

    #: The clock the records' times are on (shared stores: wall-clock).
    clock: Callable[[], float] | None

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name``."""
        ...

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result atomically; return its second."""
        ...

    def forget(self, name: str) -> None:
        """Drop the record of ``name`` (a model circuit evicted from its bound)."""
        ...


class MarkStore(Protocol):
    """Where 404 marks live (names lower-case); times on ``clock`` (None: the caller's)."""

    clock: Callable[[], float] | None

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until``."""
        ...

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        ...

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        ...

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""
        ...


Entry = dict[str, Any]


class RecentStore(Protocol):
    """Where the last requests are kept."""

    def add(self, entry: Entry) -> None:
        """Keep one served (or failed) request."""
        ...

    def latest(self, count: int) -> list[Entry]:
        """The newest ``count`` entries, newest first."""
        ...


class Tally(Protocol):
    """Events per name in the last ``window`` seconds."""

    def add(self, name: str, window: float) -> int:
        """Count one event for ``name``; the events in the window, this one included."""
        ...

    def count(self, name: str, window: float) -> int:
        """The events for ``name`` in the last ``window`` seconds."""
        ...


class UsageStore(Protocol):
    """Where usage is counted; every method must be safe from many threads."""

    def count(self, provider: str, key: str, outcome: str, now: float) -> None:
        """One upstream request that ended with ``outcome``."""
        ...

    def add_tokens(self, provider: str, key: str, tokens: Tokens, now: float) -> None:
        """Tokens the upstream reported for a request already counted."""
        ...

    def rows(self, *, provider: str | None, days: int, now: float) -> list[UsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        ...


class PinStore(Protocol):
    """Where sessions' pins live: a session (a digest, never a client's words) -> a Pin.

    Bounded to ``MAX_PINS``: past it, the soonest to expire go first.
    """

    #: The clock the pins' times are on (shared stores: wall-clock).
    clock: Callable[[], float] | None

    def get(self, session: str, now: float) -> Pin | None:
        """The session's pin, unless it expired."""
        ...

    def put(self, session: str, pin: Pin, now: float) -> None:
        """Pin the session (a later pin replaces an earlier one)."""
        ...


class ClientStore(Protocol):
    """Where client keys live: one record and one window per name, found by prefix.

    ``admit`` and ``settle`` are atomic and, while a shared store is away, run on this
    process's own copy of what it last saw (limits then hold per worker); ``create`` and
    ``edit`` are the operator's and raise ``StateUnavailable`` instead.
    """

    clock: Callable[[], float] | None

    def lookup(self, prefix: str) -> ClientEntry | None:
        """The entry whose key starts with ``prefix``, read now."""
        ...

    def entries(self) -> list[ClientEntry]:
        """Every entry, by name."""
        ...

    def create(self, entry: ClientEntry) -> bool:
        """Add ``entry``; False when its name is taken."""
        ...

    def edit(self, name: str, fn: Callable[[ClientEntry], ClientEntry]) -> ClientEntry | None:
        """Replace the record of ``name`` by that of ``fn``'s result atomically (its prefix
        may change; the window stays); None when there is none."""
        ...

    def admit(self, prefix: str, digest: str, ask: Ask, now: float) -> Verdict:
        """In one atomic step: find the key by ``prefix``, check its hash against ``digest``
        and its limits, and count it and hold ``ask``'s reservation (``window.admit``)."""
        ...

    def settle(self, name: str, hold: str, tokens: int, cost: float, now: float) -> None:
        """Release ``hold`` and count what its request used, atomically (``window.settle``)."""
        ...


class ClientUsageStore(Protocol):
    """Usage per client key, provider, upstream key and UTC day (written within a second)."""

    def record(self, client: str, provider: str, key: str, tokens: Tokens | None,
               cost: float, ok: bool, now: float) -> None:  # fmt: skip
        """One request of ``client`` served (``ok``) or failed by ``provider``'s ``key``."""
        ...

    def client_rows(self, *, days: int, now: float) -> list[ClientUsageRow]:
        """The rows of the last ``days`` UTC days (today included), newest first."""
        ...


#: Most 404 marks kept per provider.
MAX_MISSING = 1024
#: Most session pins kept.
MAX_PINS = 10_000
