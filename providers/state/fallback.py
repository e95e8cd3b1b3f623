"""A shared store that cannot answer never fails a request: this process's own state does.

One ``Standby`` per backend and process (the state file's connection, the Redis link)
knows whether the shared store answers. Every kind of state goes through it: ``run``
asks the shared store and, when it raises ``StateUnavailable``, answers from this
process's own state; ``attempt`` is a write whose loss only means the other workers miss
it. Each change between the two is logged once per process, not once per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from providers.state.contract import StateUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")


class Standby:
    """Whether ``shown`` (a state file, a Redis URL without its password) answers now."""

    def __init__(self, shown: str, *, calls_prove: bool = True) -> None:
        self.shown = shown
        #: False where something else says when the store is back (the Redis link's ping).
        self.calls_prove = calls_prove
        #: True while the shared store answers (published as keyrelay_state_store_up).
        self.up = True
        self._lock = threading.Lock()

    def run(self, shared: Callable[[], T], local: Callable[[], T], *, proves: bool = True) -> T:
        """``shared()``, or ``local()`` when the shared store cannot answer.

        A read can answer while writes wait (SQLite's WAL): only a call that ``proves``
        the store writes again says it is back.
        """
        try:
            result = shared()
        except StateUnavailable as exc:
            self.failed(exc)
            return local()
        if proves and self.calls_prove:
            self.answered()
        return result

    def attempt(self, shared: Callable[[], object]) -> bool:
        """Run a write the shared store may miss; whether it took it."""

        def wrote() -> bool:
            shared()
            return True

        return self.run(wrote, lambda: False)

    def failed(self, error: BaseException) -> None:
        """The shared store did not answer: say so once."""
        with self._lock:
            was_up, self.up = self.up, False
        if was_up:
            cause = error.__cause__ or error
            log.warning(
                "the state store %s does not answer (%s): using this process's own state "
                "until it does",
                self.shown,
                type(cause).__name__,
            )

    def answered(self) -> None:
        """The shared store answered (and wrote): say so once."""
        with self._lock:
            was_up, self.up = self.up, True
        if not was_up:
            log.warning("the state store %s answers again: back to shared state", self.shown)


#: The standby of this process's own stores: they always answer.
IN_PROCESS = Standby("memory://")
