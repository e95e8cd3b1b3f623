"""Which models a provider serves: declared in configuration, or listed by the upstream."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from fnmatch import fnmatchcase

from .errors import ProviderError

log = logging.getLogger(__name__)

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

    def allowed(self, model: str) -> bool:
        """True unless the ignore/whitelist filters exclude ``model``."""
        return model_allowed(model, self._ignore, self._whitelist)

    def models(self) -> tuple[str, ...] | None:
        """Return the allowed models, or None while the upstream's list is unknown."""
        listed = self._declared if self._declared is not None else self._listed()
        if listed is None:
            return None
        return tuple(m for m in listed if self.allowed(m))

    def serves(self, model: str) -> bool | None:
        """True or False when known; None when the list is unknown (let the upstream judge)."""
        if not self.allowed(model):
            return False
        models = self.models()
        if models is None:
            return None
        wanted = model.lower()
        return any(m.lower() == wanted for m in models)

    def _listed(self) -> tuple[str, ...] | None:
        if self._clock() < self._next_fetch:
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

    def _refresh(self) -> None:
        try:
            self._fetched = tuple(self._fetch())
            self._next_fetch = self._clock() + self._ttl
        except ProviderError as exc:
            log.warning("model list fetch failed: %s", exc.message)
            self._next_fetch = self._clock() + min(
                RETRY_FAILED_FETCH, self._ttl or RETRY_FAILED_FETCH
            )
