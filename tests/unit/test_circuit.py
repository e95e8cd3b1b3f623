"""The circuit breaker: open after consecutive failures, one trial, longer on repeat."""

from __future__ import annotations

import pytest

from providers.circuit import CLOSED, HALF_OPEN, OPEN, Circuit
from tests.conftest import FakeClock as Clock


def test_opens_after_threshold_consecutive_failures(clock: Clock) -> None:
    circuit = Circuit(threshold=3, open_seconds=30, clock=clock)
    circuit.record("server_error")
    circuit.record("timeout")
    circuit.record("rate_limited")  # a sign of life resets the count
    circuit.record("server_error")
    circuit.record("connection")
    assert circuit.state() == CLOSED
    circuit.record("malformed")
    assert circuit.state() == OPEN and not circuit.allow()
    assert circuit.retry_in() == pytest.approx(30)


def test_half_open_lets_one_trial_through(clock: Clock) -> None:
    circuit = Circuit(threshold=1, open_seconds=30, clock=clock)
    circuit.record("server_error")
    clock.now += 30
    assert circuit.state() == HALF_OPEN
    assert circuit.allow() and not circuit.allow()
    circuit.record("success")
    assert circuit.state() == CLOSED and circuit.allow()


def test_failed_trial_reopens_for_longer_up_to_the_cap(clock: Clock) -> None:
    circuit = Circuit(threshold=1, open_seconds=30, max_open_seconds=100, clock=clock)
    waits = []
    for _ in range(4):
        circuit.record("server_error")
        waits.append(circuit.retry_in())
        clock.now += waits[-1] or 0
        assert circuit.allow()
    assert waits == [30, 60, 100, 100]


def test_a_trial_without_verdict_is_released(clock: Clock) -> None:
    circuit = Circuit(threshold=1, open_seconds=1, clock=clock)
    circuit.record("timeout")
    clock.now += 1
    assert circuit.allow()
    circuit.release()
    assert circuit.allow()
