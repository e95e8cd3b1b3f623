"""The circuit breaker: open on a failure rate, one trial, longer on repeat."""

from __future__ import annotations

import pytest

from providers.health.circuit import CLOSED, HALF_OPEN, OPEN, Circuit, Permit
from tests.helpers import FakeClock as Clock


def test_opens_on_a_failure_rate_once_the_window_holds_enough_calls(clock: Clock) -> None:
    circuit = Circuit(min_calls=10, failure_rate=0.5, open_seconds=30, clock=clock)
    for outcome in ["server_error", "timeout", "malformed", "server_error"] * 2:
        circuit.record(outcome)
    assert circuit.state() == CLOSED  # 8 of 8 failed, but fewer calls than the minimum
    circuit.record("rate_limited")  # a sign of life: a call that did not fail
    circuit.record("server_error")
    assert circuit.state() == OPEN and not circuit.allow()  # 9 of 10 failed
    assert circuit.retry_in() == pytest.approx(30)


def test_a_provider_failing_one_request_in_five_stays_closed(clock: Clock) -> None:
    circuit = Circuit(min_calls=10, failure_rate=0.5, clock=clock)
    for n in range(1000):
        circuit.record("server_error" if n % 5 == 0 else "success")
        clock.now += 0.05
        assert circuit.state() == CLOSED


def test_a_window_ends_and_its_failures_with_it(clock: Clock) -> None:
    circuit = Circuit(min_calls=4, failure_rate=0.5, window_seconds=60, clock=clock)
    for _ in range(3):
        circuit.record("server_error")
    clock.now += 61
    circuit.record("success")  # a new window would start at a failure: at rest again
    circuit.record("server_error")
    circuit.record("success")
    circuit.record("success")
    circuit.record("success")
    assert circuit.state() == CLOSED  # 1 of 4 in this window, not 4 of 7


def test_connection_failures_in_a_row_open_it_sooner(clock: Clock) -> None:
    circuit = Circuit(threshold=3, min_calls=10, clock=clock)
    circuit.record("connection")
    circuit.record("connection")
    circuit.record("success")  # a sign of life resets the run
    circuit.record("connection")
    circuit.record("connection")
    assert circuit.state() == CLOSED
    circuit.record("connection")
    assert circuit.state() == OPEN


def test_a_last_resort_success_closes_and_its_failure_changes_nothing(clock: Clock) -> None:
    circuit = Circuit(min_calls=1, open_seconds=30, clock=clock)
    circuit.record("server_error")
    assert circuit.state() == OPEN
    circuit.record("timeout", Permit.LAST_RESORT)
    assert circuit.state() == OPEN and circuit.retry_in() == pytest.approx(30)
    circuit.record("success", Permit.LAST_RESORT)
    assert circuit.state() == CLOSED


def test_half_open_lets_one_trial_through(clock: Clock) -> None:
    circuit = Circuit(min_calls=1, open_seconds=30, clock=clock)
    circuit.record("server_error")
    clock.now += 30
    assert circuit.state() == HALF_OPEN
    permit = circuit.allow()
    assert permit is Permit.TRIAL and circuit.allow() is None
    circuit.record("success", permit)
    assert circuit.state() == CLOSED and circuit.allow()


def test_failed_trial_reopens_for_longer_up_to_the_cap(clock: Clock) -> None:
    circuit = Circuit(min_calls=1, open_seconds=30, max_open_seconds=100, clock=clock)
    waits = []
    permit = Permit.PASS
    for _ in range(4):
        circuit.record("server_error", permit)
        waits.append(circuit.retry_in())
        clock.now += waits[-1] or 0
        permit = circuit.allow()
        assert permit is Permit.TRIAL
    assert waits == [30, 60, 100, 100]


def test_a_trial_without_verdict_is_released(clock: Clock) -> None:
    circuit = Circuit(min_calls=1, open_seconds=1, clock=clock)
    circuit.record("timeout")
    clock.now += 1
    permit = circuit.allow()
    assert permit is Permit.TRIAL
    circuit.release(permit)
    assert circuit.allow() is Permit.TRIAL


def test_failures_already_in_flight_do_not_double_the_wait(clock: Clock) -> None:
    """Six concurrent requests fail: the circuit opens once, for 30 s, not 30 -> 240."""
    circuit = Circuit(min_calls=3, open_seconds=30, clock=clock)
    permits = [circuit.allow() for _ in range(6)]
    assert permits == [Permit.PASS] * 6
    for permit in permits:
        circuit.record("server_error", permit)
    assert circuit.state() == OPEN
    assert circuit.retry_in() == pytest.approx(30)


@pytest.mark.parametrize("outcome", ["client_error", "auth", "rate_limited", "success"])
def test_only_the_trial_closes_an_open_circuit(clock: Clock, outcome: str) -> None:
    circuit = Circuit(min_calls=1, open_seconds=30, clock=clock)
    early = circuit.allow()  # in flight before the circuit opens
    circuit.record("timeout", circuit.allow())
    assert circuit.state() == OPEN
    assert early is not None
    circuit.record(outcome, early)  # a late answer of the earlier request
    assert circuit.state() == OPEN and circuit.retry_in() == pytest.approx(30)
    clock.now += 30
    trial = circuit.allow()
    assert trial is Permit.TRIAL
    circuit.record(outcome, trial)
    assert circuit.state() == CLOSED


def test_an_aggregator_circuit_opens_only_when_failures_span_models(clock: Clock) -> None:
    circuit = Circuit(min_calls=3, open_seconds=30, spread=True, clock=clock)
    for _ in range(5):
        circuit.record("server_error", Permit.PASS, "no-such-model")
    assert circuit.state() == CLOSED  # one model failing is that model's problem
    circuit.record("server_error", Permit.PASS, "gpt-4o-mini")
    assert circuit.state() == OPEN  # failures across models: the endpoint is failing


def test_an_unreachable_aggregator_opens_whatever_the_models(clock: Clock) -> None:
    circuit = Circuit(threshold=3, open_seconds=30, spread=True, clock=clock)
    for _ in range(3):
        circuit.record("connection", Permit.PASS, "one-model")
    assert circuit.state() == OPEN
