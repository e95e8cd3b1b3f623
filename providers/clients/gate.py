"""What the web edge asks of client keys: who is calling, may they, and what it cost.

``verify`` finds a key's record; ``admit`` finds it again, checks its limits and reserves
the request's most possible cost in one atomic store call before any upstream is called
(so a revocation or a new limit holds at once on every worker and host, and a request
that is admitted asks the store once); ``settle`` releases that reservation once, on
every path, and counts what was used.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from providers.state.contract import ClientStore, ClientUsageStore
from providers.state.records import Tokens

from . import window
from .prices import FREE, Price, PriceTable, parse_overrides
from .records import PROXY_KEY_NAME, ClientEntry, ClientRecord
from .secret import digest, prefix_of


class ClientRefused(Exception):
    """A client key's request refused before any upstream is called."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


_MESSAGES = {
    window.Refusal.REVOKED: "This client key was revoked.",
    window.Refusal.EXPIRED: "This client key has expired.",
    window.Refusal.CONCURRENCY: "This client key has its most concurrent requests in flight.",
    window.Refusal.RPM: "This client key reached its requests per minute.",
    window.Refusal.TPM: "This client key reached its tokens per minute.",
    window.Refusal.DAILY_TOKENS: "This client key reached its tokens for today (UTC).",
    window.Refusal.BUDGET: "This client key's budget does not cover this request now",
}


@dataclass(frozen=True)
class Caller:
    """A client key as presented: its record, its keyed hash, and whether the store said
    so for this request (a record recalled from this process is confirmed at admission)."""

    record: ClientRecord
    digest: str
    confirmed: bool


@dataclass
class Ticket:
    """One admitted request: settled exactly once, whatever happens to it."""

    client: str
    #: The hold in the store (None: the key counts nothing there).
    hold: str | None = None
    reserved: float = 0.0
    settled: bool = False
    #: The record the store admitted it under (None: a ``PROXY_API_KEY`` key).
    record: ClientRecord | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def claim(self) -> bool:
        """True the first time only: whoever gets it settles."""
        with self._lock:
            first, self.settled = not self.settled, True
            return first


class ClientGate:
    """Client keys over one ``ClientStore`` and its usage book."""

    def __init__(
        self,
        store: ClientStore,
        usage: ClientUsageStore,
        prices: PriceTable,
        *,
        pepper: str,
        hold_seconds: float,
        family_of: Callable[[str], str],
    ) -> None:
        self.store, self.usage, self.prices = store, usage, prices
        self._pepper, self._hold_seconds, self._family_of = pepper, hold_seconds, family_of
        self._clock: Callable[[], float] = store.clock or time.time
        #: The records this process last saw, by prefix (bounded by the store's records).
        self._seen: dict[str, ClientRecord] = {}

    def verify(self, key: str, *, confirm: bool = True) -> Caller | None:
        """Who ``key`` is, if it is a client key; ``ClientRefused`` when revoked or expired.

        ``confirm=False`` may answer from the record this process saw last, for a request
        whose admission (``admit``) asks the store anyway: one store call, not two.
        """
        prefix = prefix_of(key)
        if prefix is None:
            return None
        hashed = digest(key, self._pepper)
        seen = None if confirm else self._recalled(prefix, hashed)
        if seen is not None:
            return Caller(seen, hashed, False)
        record = self._read(prefix, hashed)
        return Caller(record, hashed, True) if record is not None else None

    def price(self, provider: str, model: str) -> Price:
        """What ``provider`` charges for ``model``."""
        return self.prices.price(provider, self._family_of(provider), model)

    def dearest(self, chain: Iterable[tuple[str, str]]) -> Price:
        """The price a reservation assumes: the dearest (provider, model) of the chain."""
        found = [self.price(p, m) for p, m in chain]
        return max(found, key=lambda p: (p.output, p.input), default=FREE)

    def admit(
        self, caller: Caller | None, *, price: Price, body_bytes: int, max_output: int | None
    ) -> Ticket:
        """Check ``caller``'s key and limits and hold this request's reservation in one
        store call, or ``ClientRefused`` (429 with Retry-After; 403 revoked or expired; 401
        a key gone meanwhile). The ticket's record is the one the store holds now."""
        if caller is None:
            return Ticket(PROXY_KEY_NAME)
        record = caller.record
        if not record.limits.counted:
            if not caller.confirmed:
                record = self._confirmed(caller)
            if not record.limits.counted:
                return Ticket(record.name, record=record)
        output = max_output if max_output is not None else price.output_limit
        # A token is at least one byte of what was sent, so the bytes bound the input.
        reserve = (body_bytes * price.input + output * price.output) / 1_000_000
        ask = window.Ask(secrets.token_hex(8), reserve, self._hold_seconds)
        verdict = self.store.admit(record.prefix, caller.digest, ask, self._clock())
        if verdict.entry is None:
            raise self._unknown(record)
        now_record = self._saw(verdict.entry.record)
        if verdict.refusal is not None:
            raise _refusal(verdict, reserve)
        if not now_record.limits.settled:
            return Ticket(now_record.name, record=now_record)
        return Ticket(now_record.name, ask.hold, reserve, record=now_record)

    def _recalled(self, prefix: str, hashed: str) -> ClientRecord | None:
        """The record this process saw last for the key, if usable and the hash matches."""
        seen = self._seen.get(prefix)
        if seen is None or seen.refused(self._clock()) is not None:
            return None
        return seen if hmac.compare_digest(seen.digest, hashed) else None

    def _read(self, prefix: str, hashed: str) -> ClientRecord | None:
        """The record the store holds now for a key's prefix and hash (None: no such key;
        ``ClientRefused`` when revoked or expired)."""
        entry = self.store.lookup(prefix)
        if entry is None or not hmac.compare_digest(entry.record.digest, hashed):
            self._seen.pop(prefix, None)
            return None
        reason = entry.record.refused(self._clock())
        if reason is not None:
            raise ClientRefused(403, f"client_key_{reason}", _MESSAGES[window.Refusal(reason)])
        return self._saw(entry.record)

    def _confirmed(self, caller: Caller) -> ClientRecord:
        """The record the store holds now for a key recalled from this process."""
        record = self._read(caller.record.prefix, caller.digest)
        if record is None:
            raise self._unknown(caller.record)
        return record

    def _unknown(self, record: ClientRecord) -> ClientRefused:
        """A key that was gone by its admission (rotated or deleted meanwhile)."""
        self._seen.pop(record.prefix, None)
        return ClientRefused(401, "invalid_api_key", "Incorrect API key provided.")

    def settle(self, ticket: Ticket, *, provider: str | None, key: str | None,
               model: str | None, tokens: Tokens | None) -> float | None:  # fmt: skip
        """Release the ticket's hold and count what the request used (once, on any path):
        nothing served costs nothing; served without usage reported costs its reservation.
        What it cost, or None when it was settled already."""
        if not ticket.claim():
            return None
        served = provider is not None
        if served and tokens is not None:
            cost = self.price(provider or "", model or "").cost(tokens[0], tokens[1], tokens[3])
        else:
            cost = ticket.reserved if served else 0.0
        now = self._clock()
        self.usage.record(ticket.client, provider or "-", key or "-", tokens, cost, served, now)
        if ticket.hold is not None:
            self.store.settle(ticket.client, ticket.hold, tokens[2] if tokens else 0, cost, now)
        return cost

    def release(self, ticket: Ticket) -> None:
        """Give back a ticket's hold for a request refused after its admission (nothing
        used, nothing counted in the usage book)."""
        if ticket.claim() and ticket.hold is not None:
            self.store.settle(ticket.client, ticket.hold, 0, 0.0, self._clock())

    def entry(self, record: ClientRecord) -> ClientEntry | None:
        """The key's entry as the store holds it now (its window brought up to date)."""
        found = self.store.lookup(record.prefix)
        if found is None:
            return None
        return ClientEntry(
            found.record, window.fresh(found.window, found.record.limits, self._clock())
        )

    def _saw(self, record: ClientRecord) -> ClientRecord:
        if len(self._seen) >= MAX_SEEN:
            self._seen.clear()
        self._seen[record.prefix] = record
        return record


#: Most records a process keeps by prefix (more than any team has keys).
MAX_SEEN = 10_000


def _refusal(verdict: window.Verdict, reserve: float) -> ClientRefused:
    reason = verdict.refusal or window.Refusal.REVOKED
    if reason in (window.Refusal.REVOKED, window.Refusal.EXPIRED):
        return ClientRefused(403, f"client_key_{reason}", _MESSAGES[reason])
    message = _MESSAGES[reason]
    if reason == window.Refusal.BUDGET:
        message += f" (it reserves ${reserve:.6f}; set max_tokens to reserve less)."
    return ClientRefused(429, f"client_{reason}_exceeded", message, verdict.retry_after)


def gate_for(
    store: ClientStore,
    usage: ClientUsageStore,
    *,
    secret: str,
    prices: str,
    deadline: float,
    family_of: Callable[[str], str],
) -> ClientGate:
    """The gate of a router: its state's client stores, ``MODEL_PRICES`` over the table.

    A hold outlives the longest request it can stand for (it only expires with a worker
    that died holding it).
    """
    table = PriceTable(parse_overrides(prices))
    return ClientGate(store, usage, table, pepper=secret, hold_seconds=max(600.0, 2 * deadline),
                      family_of=family_of)  # fmt: skip
