"""The response cache: identical requests within a TTL are answered without an upstream call.

Opt-in (``CACHE_TTL_SECONDS``). Only whole, successful completions are stored;
a streamed request with the same body is replayed from a stored completion. The
store sits behind ``ResponseCache`` so that a shared one can replace the
in-process LRU.
"""

from __future__ import annotations

import copy
import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from providers.config.shape import RoutingConfig
from providers.options import CacheMode, RouteOptions
from providers.upstream.jsonlimits import dumps

from .attempts import Served

#: Body fields that change how an answer is delivered, not what it is.
DELIVERY_FIELDS = frozenset({"stream", "stream_options"})


def cache_key(payload: Mapping[str, Any], chain: Iterable[tuple[str, str]], scope: str = "") -> str:
    """A digest of the normalised body, the (provider, model) set that may serve it, and
    ``scope`` (the client key's fingerprint unless CACHE_SHARED: one client's answers
    are not served to another)."""
    body = {k: v for k, v in payload.items() if k not in DELIVERY_FIELDS}
    normal = dumps({"body": body, "chain": sorted(set(chain)), "scope": scope}, sort_keys=True)
    return hashlib.sha256(normal).hexdigest()


class ResponseCache(Protocol):
    """Where cached completions live; implementations must be thread-safe."""

    def get(self, key: str) -> Any | None:
        """Return the stored value, or None when absent or expired."""
        ...

    def put(self, key: str, value: Any, size: int) -> None:
        """Store ``value`` (about ``size`` bytes) under ``key``."""
        ...


class LRUCache:
    """An in-process cache bounded by entries and bytes: least recently used entries go
    first, entries expire after ``ttl``."""

    def __init__(
        self,
        *,
        max_entries: int,
        ttl: float,
        max_bytes: int = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max = max_entries
        self._max_bytes = max_bytes
        self._ttl = ttl
        self._clock = clock
        self._entries: OrderedDict[str, tuple[float, Any, int]] = OrderedDict()
        #: The sizes of the entries held, added up.
        self.bytes = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> Any | None:
        """Return a copy of the stored value, or None when absent or expired."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            expires, value, size = entry
            if self._clock() >= expires:
                del self._entries[key]
                self.bytes -= size
                return None
            self._entries.move_to_end(key)
        return copy.deepcopy(value)

    def put(self, key: str, value: Any, size: int) -> None:
        """Store a copy of ``value``; evict the least recently used beyond either bound.

        A value larger than the whole byte bound is not stored.
        """
        if size > self._max_bytes:
            return
        stored = copy.deepcopy(value)
        with self._lock:
            old = self._entries.pop(key, None)
            if old is not None:
                self.bytes -= old[2]
            self._entries[key] = (self._clock() + self._ttl, stored, size)
            self.bytes += size
            while len(self._entries) > self._max or self.bytes > self._max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1][2]

    def __len__(self) -> int:
        return len(self._entries)


def replay_chunks(completion: Mapping[str, Any], *, include_usage: bool) -> list[dict[str, Any]]:
    """A stored completion as the chunks of a stream: role, content, finish (and usage)."""
    base = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
    }
    chunks: list[dict[str, Any]] = []
    for choice in completion.get("choices") or []:
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        delta: dict[str, Any] = {"role": message.get("role", "assistant")}
        for field in ("content", "tool_calls", "refusal", "reasoning_content"):
            if message.get(field) is not None:
                delta[field] = message[field]
        if delta.get("tool_calls"):
            delta["tool_calls"] = [
                {**call, "index": position} for position, call in enumerate(delta["tool_calls"])
            ]
        chunks.append(
            {**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]}
        )
        finish = choice.get("finish_reason") or "stop"
        chunks.append({**base, "choices": [{"index": index, "delta": {}, "finish_reason": finish}]})
    if include_usage and completion.get("usage"):
        chunks.append({**base, "choices": [], "usage": completion["usage"]})
    return chunks


class CachePolicy:
    """When the router reads and writes the cache, and under which key."""

    def __init__(
        self,
        cache: ResponseCache | None,
        *,
        shared: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        #: The store, or None when CACHE_TTL_SECONDS is 0.
        self.cache = cache
        self._shared = shared
        self._clock = clock

    @classmethod
    def from_routing(
        cls, routing: RoutingConfig, cache: ResponseCache | None, clock: Callable[[], float]
    ) -> CachePolicy:
        """The policy a routing configuration sets (an LRU when CACHE_TTL_SECONDS > 0)."""
        if cache is None and routing.cache_ttl > 0:
            cache = LRUCache(
                max_entries=routing.cache_max_entries,
                ttl=routing.cache_ttl,
                max_bytes=routing.cache_max_bytes,
            )
        return cls(cache, shared=routing.cache_shared, clock=clock)

    def key(
        self, payload: Mapping[str, Any], chain: Iterable[tuple[str, str]], options: RouteOptions
    ) -> str | None:
        """The cache key for this request, or None when the cache is not used."""
        if self.cache is None or options.cache == CacheMode.OFF:
            return None
        return cache_key(payload, chain, "" if self._shared else options.client)

    def lookup(
        self, key: str | None, options: RouteOptions
    ) -> tuple[dict[str, Any], Served] | None:
        """A stored (body, served-from-cache), when this request may read the cache."""
        if key is None or self.cache is None or options.cache != CacheMode.USE:
            return None
        stored = self.cache.get(key)
        if stored is None:
            return None
        body, served = stored
        return body, served.from_cache(self._clock())

    def store(self, key: str | None, body: dict[str, Any], served: Served) -> None:
        """Keep a successful whole completion."""
        if key is not None and self.cache is not None:
            self.cache.put(key, (body, served), len(dumps(body)))
