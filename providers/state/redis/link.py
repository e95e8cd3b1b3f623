"""One link to the Redis that ``STATE_URL=redis://`` names, for every store of a worker.

Every call has ``STATE_TIMEOUT`` to connect and to answer. A call that fails marks
the link down and raises ``StateUnavailable``; while it is down no call touches the
network (callers answer from their own process's state at once), and one background
thread per process pings Redis each second until it answers. Each change of state
is logged once, with the URL's password hidden.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis

from providers.config.env import ConfigError
from providers.secrets import redact_url
from providers.state.contract import StateUnavailable
from providers.state.fallback import Standby

log = logging.getLogger(__name__)
T = TypeVar("T")
#: How often a down link tries Redis again.
RETRY_SECONDS = 1.0
#: Every key keyrelay writes starts with this.
PREFIX = "keyrelay:"


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client for ``url`` (redis:// or rediss://); ``ConfigError`` (password hidden) if bad."""
    parts = urlsplit(url)
    try:
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("expected redis://[:password@]host:port/db")
        _ = parts.port  # raises on a port that is not a number
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry_on_timeout=False,
            retry=None,
            health_check_interval=0,
            max_connections=256,
        )
    except ValueError as exc:
        raise ConfigError(f"STATE_URL={redact_url(url)!r} is not usable: {exc}") from None


class RedisLink:
    """A Redis client with an up/down state shared by the stores of one worker."""

    def __init__(self, url: str, *, timeout: float = 0.1) -> None:
        self.client = redis_client(url, timeout)
        self.shown = redact_url(url)
        #: Whether Redis answers, for every store of this worker.
        self.standby = Standby(self.shown, calls_prove=False)
        self._lock = threading.Lock()
        self._retrying_in = 0  # the pid whose retry thread runs, 0: none
        self._on_up: list[Callable[[], None]] = []
        try:
            self.client.ping()
        except redis.RedisError as exc:
            self._down(exc)

    @property
    def up(self) -> bool:
        """True while Redis answers (published as keyrelay_state_store_up)."""
        return self.standby.up

    def on_up(self, action: Callable[[], None]) -> None:
        """Run ``action`` each time Redis answers again (a store re-sends what it holds)."""
        self._on_up.append(action)

    def call(self, fn: Callable[[redis.Redis], T]) -> T:
        """``fn(client)``; ``StateUnavailable`` at once while down, or if it fails now."""
        if not self.up:
            self._retry()
            raise StateUnavailable(f"the state store {self.shown} is down")
        try:
            return fn(self.client)
        except redis.RedisError as exc:
            self._down(exc)
            raise StateUnavailable(f"the state store {self.shown} did not answer") from None

    def script(self, source: str) -> Callable[..., Any]:
        """A Lua script, sent by its SHA (loaded again by redis-py if Redis forgot it)."""
        return self.client.register_script(source)

    def _down(self, error: BaseException) -> None:
        self.standby.failed(error)
        self._retry()

    def _retry(self) -> None:
        with self._lock:
            if self._retrying_in == os.getpid():
                return
            self._retrying_in = os.getpid()
        threading.Thread(target=self._until_up, name="keyrelay-redis-retry", daemon=True).start()

    def _until_up(self) -> None:
        while True:
            time.sleep(RETRY_SECONDS)
            try:
                self.client.ping()
            except redis.RedisError:
                continue
            break
        with self._lock:
            self._retrying_in = 0
        self.standby.answered()
        for action in self._on_up:
            action()
