"""Values read from a shared store, kept by this worker for a moment, by name.

A value another worker changed reaches this one within ``seconds``; this worker's own
changes replace its copy (``put``) or drop it (``drop``) at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class Mirror(Generic[V]):
    """Copies of shared values, each read again once it is ``seconds`` old."""

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._kept: dict[str, tuple[float, V]] = {}

    def get(self, name: str, read: Callable[[], V]) -> V:
        """The copy of ``name``, or ``read()`` when there is none this recent (``read`` may
        raise: nothing is kept then)."""
        now = time.monotonic()
        kept = self._kept.get(name)
        if kept is not None and now - kept[0] < self._seconds:
            return kept[1]
        value = read()
        self._kept[name] = (now, value)
        return value

    def put(self, name: str, value: V) -> None:
        """This worker changed ``name``: its copy is ``value`` from now."""
        self._kept[name] = (time.monotonic(), value)

    def drop(self, name: str) -> None:
        """Forget the copy of ``name`` (read again next time)."""
        self._kept.pop(name, None)
