"""The process alarm: actions at deadlines, cancellation, and a heap that does not grow."""

from __future__ import annotations

import threading

from providers.alarm import Alarm


def test_an_alarm_fires_and_reports_it() -> None:
    alarm = Alarm()
    fired = threading.Event()
    handle = alarm.after(0.01, fired.set)
    assert fired.wait(5)
    assert handle.cancel() is True  # too late to cancel: it fired


def test_a_cancelled_alarm_never_fires() -> None:
    alarm = Alarm()
    ran = threading.Event()
    handle = alarm.after(0.05, ran.set)
    assert handle.cancel() is False
    later = threading.Event()
    alarm.after(0.1, later.set)
    assert later.wait(5)  # a later alarm fired, so the cancelled one's time has passed
    assert not ran.is_set()


def test_cancelled_alarms_do_not_pile_up() -> None:
    alarm = Alarm()
    for _ in range(10_000):
        alarm.after(3600, lambda: None).cancel()
    assert len(alarm) == 0
    assert len(alarm._heap) <= 200  # compacted, not 10,000 entries waiting an hour


def test_an_earlier_alarm_wakes_the_thread() -> None:
    alarm = Alarm()
    alarm.after(3600, lambda: None)
    fired = threading.Event()
    alarm.after(0.01, fired.set)
    assert fired.wait(5)
