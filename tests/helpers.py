"""Constants and small doubles shared by the tests (fixtures stay in conftest.py)."""

from __future__ import annotations

CLIENT_KEY = "client-key-for-tests"
UPSTREAM = "https://upstream.test/v1"
UPSTREAM_KEYS = ("sk-test-key-number-one-aaaa", "sk-test-key-number-two-bbbb")

COMPLETION = {
    "id": "chatcmpl-unit",
    "object": "chat.completion",
    "created": 1,
    "model": "fake-model",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
    ],
}


class FakeClock:
    """A monotonic clock that moves only when a test sets ``now``."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
