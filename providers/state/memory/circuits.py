"""Circuit records in this process (``memory://``, and a shared store's stand-in)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from providers.state.records import AT_REST, CircuitRecord

T = TypeVar("T")


class InMemoryCircuits:
    """Circuit records in this process."""

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._records: dict[str, CircuitRecord] = {}
        self._lock = threading.Lock()

    def read(self, name: str) -> CircuitRecord:
        """The record of circuit ``name``."""
        return self._records.get(name, AT_REST)

    def change(self, name: str, fn: Callable[[CircuitRecord], tuple[CircuitRecord, T]]) -> T:
        """Replace the record by ``fn``'s first result atomically; return its second."""
        with self._lock:
            record, result = fn(self._records.get(name, AT_REST))
            if record.at_rest:
                self._records.pop(name, None)
            else:
                self._records[name] = record
            return result

    def forget(self, name: str) -> None:
        """Drop the record of ``name``."""
        with self._lock:
            self._records.pop(name, None)
