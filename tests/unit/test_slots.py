"""Waiting for a busy key: first come, first served; only a usable release wakes; a gone
client gives up its place."""

from __future__ import annotations

import threading

from providers.routing.slots import SlotQueue
from tests.fakes.upstream import wait_until


def waiter(queue: SlotQueue, providers: set[str], woke: list[str], name: str) -> threading.Thread:
    def run() -> None:
        if queue.wait(providers, 10):
            woke.append(name)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_first_come_first_served() -> None:
    queue, woke = SlotQueue(), []
    first = waiter(queue, {"groq"}, woke, "first")
    wait_until(lambda: len(queue) == 1)
    second = waiter(queue, {"groq"}, woke, "second")
    wait_until(lambda: len(queue) == 2)
    queue.released("groq")
    first.join(5)
    assert woke == ["first"] and len(queue) == 1
    queue.released("groq")
    second.join(5)
    assert woke == ["first", "second"]


def test_a_release_wakes_only_a_waiter_that_can_use_it() -> None:
    queue, woke = SlotQueue(), []
    thread = waiter(queue, {"groq"}, woke, "groq-waiter")
    wait_until(lambda: len(queue) == 1)
    queue.released("openai")
    assert queue.waiting("groq") == 1 and woke == []
    queue.released("groq")
    thread.join(5)
    assert woke == ["groq-waiter"]


def test_a_client_that_leaves_gives_up_its_place() -> None:
    queue = SlotQueue()
    gone = threading.Event()
    result: list[bool] = []
    thread = threading.Thread(target=lambda: result.append(queue.wait({"groq"}, 30, gone.is_set)))
    thread.start()
    wait_until(lambda: len(queue) == 1)
    gone.set()
    thread.join(5)
    assert result == [False] and len(queue) == 0


def test_nobody_waiting_costs_nothing_and_times_out() -> None:
    queue = SlotQueue()
    queue.released("groq")  # no waiter: nothing happens
    assert queue.wait({"groq"}, 0.01) is False and len(queue) == 0
