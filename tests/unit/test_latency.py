"""Adaptive first-byte timeouts."""

from __future__ import annotations

import math
import random

import pytest

from providers.health.latency import STREAM, WHOLE, AdaptivePolicy, AdaptiveTimeout

POLICY = AdaptivePolicy(floor=1.0, factor=3.0, percentile=90, min_samples=10)


def test_static_until_enough_samples() -> None:
    timeout = AdaptiveTimeout(POLICY, ceiling=120)
    for _ in range(9):
        timeout.observe(STREAM, 0.5)
    assert timeout.current(STREAM) == 120
    timeout.observe(STREAM, 0.5)
    assert timeout.current(STREAM) == pytest.approx(1.5)


def test_percentile_times_factor_within_floor_and_ceiling() -> None:
    timeout = AdaptiveTimeout(POLICY, ceiling=60)
    for seconds in [1, 1, 1, 1, 1, 1, 1, 1, 2, 30]:  # p90 is 2
        timeout.observe(WHOLE, seconds)
    assert timeout.current(WHOLE) == pytest.approx(6)
    fast = AdaptiveTimeout(POLICY, ceiling=60)
    for _ in range(10):
        fast.observe(WHOLE, 0.01)
    assert fast.current(WHOLE) == 1.0  # the floor
    slow = AdaptiveTimeout(POLICY, ceiling=60)
    for _ in range(10):
        slow.observe(WHOLE, 50)
    assert slow.current(WHOLE) == 60  # the ceiling


def test_modes_are_separate_and_timeouts_widen_until_a_success() -> None:
    timeout = AdaptiveTimeout(POLICY, ceiling=100)
    for _ in range(10):
        timeout.observe(STREAM, 1)
    assert timeout.current(WHOLE) == 100
    timeout.timed_out(STREAM, timeout.current(STREAM))
    assert timeout.current(STREAM) == pytest.approx(6)
    timeout.timed_out(STREAM, timeout.current(STREAM))
    assert timeout.current(STREAM) == pytest.approx(12)
    timeout.timed_out(STREAM, 100)  # a timeout at the static limit says nothing new
    assert timeout.current(STREAM) == pytest.approx(12)
    timeout.observe(STREAM, 1)
    assert timeout.current(STREAM) == pytest.approx(3)


def test_disabled_is_always_the_ceiling() -> None:
    timeout = AdaptiveTimeout(AdaptivePolicy(enabled=False, min_samples=1), ceiling=30)
    timeout.observe(STREAM, 0.1)
    assert timeout.current(STREAM) == 30


def test_window_slides_over_the_last_samples_only() -> None:
    """The kept-sorted window gives the same timeout as sorting the last ``window`` samples."""
    policy = AdaptivePolicy(floor=0.0, factor=1.0, percentile=90, min_samples=1, window=50)
    timeout = AdaptiveTimeout(policy, ceiling=1e9)
    generator = random.Random(7)
    history: list[float] = []
    for _ in range(600):
        seconds = float(generator.choice([generator.randint(1, 20), generator.random() * 20]))
        timeout.observe(WHOLE, seconds)
        history.append(seconds)
        window = sorted(history[-50:])
        expected = window[max(0, math.ceil(0.9 * len(window)) - 1)]
        assert timeout.current(WHOLE) == expected
