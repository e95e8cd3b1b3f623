"""Adaptive first-byte timeouts: learn each provider's latency, abandon a hung one in seconds.

For every provider and mode (a stream's first output, a whole answer) the last
``window`` successful latencies are kept; once there are ``min_samples`` of
them, the timeout is their ``percentile`` times ``factor``, kept between
``floor`` and ``ceiling`` (``TIMEOUT_READ``). Each attempt that times out at an
adaptive limit doubles a stretch factor until a success, so a provider that has
become slower but is healthy is not cut off for ever.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

STREAM, WHOLE = "stream", "whole"


@dataclass(frozen=True)
class AdaptivePolicy:
    """How adaptive timeouts are computed (ADAPTIVE_TIMEOUT_* settings)."""

    enabled: bool = True
    floor: float = 5.0
    factor: float = 3.0
    percentile: float = 95.0
    min_samples: int = 20
    window: int = 200


class _Estimator:
    """The last ``window`` latencies, in arrival order and sorted (read once per attempt)."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.samples: deque[float] = deque()
        self.ordered: list[float] = []
        self.stretch = 1.0

    def add(self, seconds: float) -> None:
        if len(self.samples) == self.window:
            oldest = self.samples.popleft()
            del self.ordered[bisect.bisect_left(self.ordered, oldest)]
        self.samples.append(seconds)
        bisect.insort(self.ordered, seconds)


class AdaptiveTimeout:
    """The first-byte timeout of one provider, per mode; safe to use from many threads."""

    def __init__(self, policy: AdaptivePolicy, ceiling: float) -> None:
        self._policy = policy
        self._ceiling = ceiling
        self._lock = threading.Lock()
        self._modes = {STREAM: _Estimator(policy.window), WHOLE: _Estimator(policy.window)}

    def current(self, mode: str) -> float:
        """The read timeout for the next attempt's first byte in ``mode``."""
        policy = self._policy
        estimator = self._modes[mode]
        with self._lock:
            if not policy.enabled or len(estimator.samples) < policy.min_samples:
                return self._ceiling
            ordered = estimator.ordered
            rank = max(0, math.ceil(policy.percentile / 100 * len(ordered)) - 1)
            wanted = ordered[rank] * policy.factor * estimator.stretch
        return min(self._ceiling, max(policy.floor, wanted))

    def observe(self, mode: str, seconds: float) -> None:
        """Record a successful attempt's time to first output (or whole answer)."""
        with self._lock:
            estimator = self._modes[mode]
            estimator.add(seconds)
            estimator.stretch = 1.0

    def timed_out(self, mode: str, limit: float) -> None:
        """An attempt timed out at ``limit``: if that was an adaptive limit, widen the next."""
        if limit < self._ceiling:
            with self._lock:
                estimator = self._modes[mode]
                estimator.stretch = min(estimator.stretch * 2, 1024.0)

    def describe(self) -> dict[str, Any]:
        """Current timeouts and sample counts, for /v1/providers."""
        with self._lock:
            counts = {mode: len(e.samples) for mode, e in self._modes.items()}
        return {
            mode: {"timeout": round(self.current(mode), 3), "samples": counts[mode]}
            for mode in self._modes
        }
