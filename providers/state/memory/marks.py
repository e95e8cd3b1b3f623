"""404 marks in this process, bounded like the shared ones."""

from __future__ import annotations

import threading
from collections.abc import Callable

from providers.state.contract import MAX_MISSING


class InMemoryMarks:
    """404 marks in this process."""

    clock: Callable[[], float] | None = None

    def __init__(self) -> None:
        self._marks: dict[str, dict[str, float]] = {}
        self._lock = threading.Lock()

    def mark(self, provider: str, model: str, until: float, now: float) -> None:
        """``provider`` does not serve ``model`` until ``until``."""
        with self._lock:
            marks = self._marks.setdefault(provider, {})
            if len(marks) >= MAX_MISSING:
                live = {m: u for m, u in marks.items() if u > now}
                keep = sorted(live.items(), key=lambda item: item[1])[-(MAX_MISSING // 2) :]
                marks = self._marks[provider] = dict(keep)
            marks[model] = until

    def until(self, provider: str, model: str) -> float | None:
        """When ``provider`` may serve ``model`` again, if it was marked."""
        return self._marks.get(provider, {}).get(model)

    def of(self, provider: str) -> dict[str, float]:
        """Every mark of ``provider``: model -> until."""
        return self._marks.get(provider) or {}

    def forget(self, provider: str) -> None:
        """Drop every mark of ``provider``."""
        with self._lock:
            self._marks.pop(provider, None)

    def any_live(self, provider: str, now: float) -> bool:
        """True when some mark of ``provider`` has not expired."""
        marks = self._marks.get(provider) or {}
        return any(u > now for u in list(marks.values()))

    def count(self, provider: str) -> int:
        """How many marks of ``provider`` are kept."""
        return len(self._marks.get(provider) or {})
