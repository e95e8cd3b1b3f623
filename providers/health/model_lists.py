"""Which models a provider serves: declared in configuration, or listed by the upstream."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase

from providers.errors import ProviderError
from providers.state.contract import MarkStore
from providers.state.memory.marks import InMemoryMarks

log = logging.getLogger(__name__)

#: Longest model name accepted from a client (ids run to about 100 characters).
MAX_MODEL_NAME = 256
#: After a failed listing, wait this long before asking the upstream again.
RETRY_FAILED_FETCH = 30.0


def model_allowed(model: str, ignore: Sequence[str], whitelist: Sequence[str]) -> bool:
    """Apply ``IGNORE_MODELS_<P>`` and ``WHITELIST_MODELS_<P>`` (``*`` wildcards, any case).

    As in LLM-API-Key-Proxy, the whitelist wins: a model matching both lists is
    allowed, and ``IGNORE_MODELS_<P>=*`` plus a whitelist allows only the whitelist.
    """
    name = model.lower()
    if any(fnmatchcase(name, pattern.lower()) for pattern in whitelist):
        return True
    return not any(fnmatchcase(name, pattern.lower()) for pattern in ignore)


def _last(model: str) -> str:
    return model.lower().rsplit("/", 1)[-1]


class _Index:
    """A filtered model list with lookups by id and by last path segment (first one wins)."""

    def __init__(self, source: tuple[str, ...], allowed: tuple[str, ...]) -> None:
        self.source = source
        self.allowed = allowed
        self.by_id: dict[str, str] = {}
        self.by_last: dict[str, str] = {}
        for model in allowed:
            self.by_id.setdefault(model.lower(), model)
            self.by_last.setdefault(_last(model), model)


class ModelCatalog:
    """The models of one provider, filtered; fetched lazily and cached with a TTL."""

    def __init__(
        self,
        *,
        declared: Sequence[str] | None,
        fetch: Callable[[], list[str]],
        ignore: Sequence[str] = (),
        whitelist: Sequence[str] = (),
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
        marks: MarkStore | None = None,
        provider: str = "",
    ) -> None:
        self._declared = tuple(declared) if declared else None
        self._fetch = fetch
        self._ignore = tuple(ignore)
        self._whitelist = tuple(whitelist)
        self._ttl = ttl
        self._clock = clock
        self._fetched: tuple[str, ...] | None = None
        self._next_fetch = 0.0
        self._lock = threading.Lock()
        #: Models the upstream answered 404 for, with when to believe it serves them again.
        self._marks: MarkStore = marks or InMemoryMarks()
        self._mark_clock = self._marks.clock or clock
        self._provider = provider
        #: The filtered list and its lookups, rebuilt only when the listed models change.
        self._index = _Index((), ())

    def allowed(self, model: str) -> bool:
        """True unless the filters exclude ``model`` or the upstream recently said 404 for it."""
        until = self._marks.until(self._provider, model.lower())
        if until is not None and self._mark_clock() < until:
            return False
        return model_allowed(model, self._ignore, self._whitelist)

    @property
    def marked(self) -> int:
        """How many 404 marks this provider keeps (bounded)."""
        return self._marks.count(self._provider)

    def filtered(self, model: str) -> bool:
        """True when IGNORE_MODELS / WHITELIST_MODELS exclude ``model``."""
        return not model_allowed(model, self._ignore, self._whitelist)

    def mark_missing(self, model: str, seconds: float) -> None:
        """Remember for ``seconds`` that the upstream does not serve ``model``."""
        if len(model) > MAX_MODEL_NAME:
            return
        now = self._mark_clock()
        self._marks.mark(self._provider, model.lower(), now + seconds, now)

    def models(self, *, fetch: bool = True) -> tuple[str, ...] | None:
        """Return the allowed models, or None while the upstream's list is unknown.

        With ``fetch=False`` a stale list is refreshed in the background instead of inline.
        """
        index = self._indexed(fetch)
        if index is None:
            return None
        if self._any_missing():
            return tuple(m for m in index.allowed if self.allowed(m))
        return index.allowed

    def serves(self, model: str) -> bool | None:
        """True or False when known; None when the list is unknown (let the upstream judge)."""
        if not self.allowed(model):
            return False
        index = self._indexed(True)
        if index is None:
            return None
        return model.lower() in index.by_id

    def match(self, model: str, *, fetch: bool = True) -> str | None:
        """This provider's id for ``model``: the same id, or the same last path segment."""
        index = self._indexed(fetch)
        if index is None:
            return None
        wanted = model.lower()
        if self._any_missing():  # rare: a recent 404; look through what is still allowed
            models = self.models(fetch=False) or ()
            last = wanted.rsplit("/", 1)[-1]
            exact = next((m for m in models if m.lower() == wanted), None)
            return exact or next((m for m in models if _last(m) == last), None)
        return index.by_id.get(wanted) or index.by_last.get(wanted.rsplit("/", 1)[-1])

    def lists(self, model: str) -> bool:
        """True when ``model`` is in the list known now (declared or fetched); never fetches."""
        listed = self._declared if self._declared is not None else self._fetched
        return listed is not None and model.lower() in self._indexed_now(listed).by_id

    def _indexed_now(self, listed: tuple[str, ...]) -> _Index:
        index = self._index
        if index.source is not listed:
            allowed = tuple(m for m in listed if model_allowed(m, self._ignore, self._whitelist))
            index = self._index = _Index(listed, allowed)
        return index

    def _any_missing(self) -> bool:
        return self._marks.any_live(self._provider, self._mark_clock())

    def _indexed(self, fetch: bool) -> _Index | None:
        listed = self._declared if self._declared is not None else self._listed(fetch)
        if listed is None:
            return None
        return self._indexed_now(listed)

    def _listed(self, fetch: bool = True) -> tuple[str, ...] | None:
        if self._clock() < self._next_fetch:
            return self._fetched
        if not fetch:
            # Refresh in the background, one thread at a time; answer with what is known.
            if self._lock.acquire(blocking=False):
                threading.Thread(target=self._refresh_and_release, daemon=True).start()
            return self._fetched
        # One thread refreshes; the others go on with what is cached instead of queueing.
        if not self._lock.acquire(blocking=False):
            return self._fetched
        try:
            if self._clock() >= self._next_fetch:
                self._refresh()
            return self._fetched
        finally:
            self._lock.release()

    @property
    def known(self) -> bool:
        """True when a list is known: declared, or fetched at least once."""
        return self._declared is not None or self._fetched is not None

    def ensure_listed(self, wait: float) -> None:
        """Fetch now if the list was never fetched; concurrent callers share that one fetch,
        each waiting for it at most ``wait`` seconds. A failed fetch is not retried before
        its back-off ends."""
        if self.known or self._clock() < self._next_fetch:
            return
        if not self._lock.acquire(timeout=wait):
            return
        try:
            if not self.known and self._clock() >= self._next_fetch:
                self._refresh()
        finally:
            self._lock.release()

    def _refresh_and_release(self) -> None:
        try:
            self._refresh()
        finally:
            self._lock.release()

    def _refresh(self) -> None:
        try:
            self._fetched = tuple(self._fetch())
            self._next_fetch = self._clock() + self._ttl
        except ProviderError as exc:
            log.warning("model list fetch failed: %s", exc.message)
            self._next_fetch = self._clock() + min(
                RETRY_FAILED_FETCH, self._ttl or RETRY_FAILED_FETCH
            )
