"""The response cache: keys, expiry, eviction, copies, and replay as a stream."""

from __future__ import annotations

from providers.routing.cache import LRUCache, cache_key, replay_chunks
from tests.helpers import FakeClock

CHAIN = [("groq", "llama"), ("g4f-main", "llama")]


def test_key_ignores_delivery_fields_order_and_chain_rotation() -> None:
    body = {
        "model": "groq/llama",
        "messages": [{"role": "user", "content": "hi"}],
        "temperature": 0,
    }
    same = {
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": "hi"}],
        "model": "groq/llama",
    }
    assert cache_key(body, CHAIN) == cache_key(same, reversed(CHAIN))
    assert cache_key(body, CHAIN) != cache_key({**body, "temperature": 1}, CHAIN)
    assert cache_key(body, CHAIN) != cache_key(body, CHAIN[:1])


def test_entries_expire_after_the_ttl(clock: FakeClock) -> None:
    cache = LRUCache(max_entries=10, ttl=60, clock=clock)
    cache.put("k", {"v": 1}, 10)
    clock.now += 59.9
    assert cache.get("k") == {"v": 1}
    clock.now += 0.2
    assert cache.get("k") is None
    assert len(cache) == 0


def test_least_recently_used_goes_first(clock: FakeClock) -> None:
    cache = LRUCache(max_entries=2, ttl=60, clock=clock)
    cache.put("a", 1, 1)
    cache.put("b", 2, 1)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3, 1)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_stored_values_are_copies(clock: FakeClock) -> None:
    cache = LRUCache(max_entries=2, ttl=60, clock=clock)
    value = {"choices": [{"message": {"content": "x"}}]}
    cache.put("k", value, 40)
    value["choices"][0]["message"]["content"] = "changed by the caller"
    got = cache.get("k")
    got["choices"].clear()
    assert cache.get("k") == {"choices": [{"message": {"content": "x"}}]}


def test_replay_turns_a_completion_into_stream_chunks() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    completion = {
        "id": "x",
        "created": 1,
        "model": "m",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": None, "tool_calls": [call]},
                "finish_reason": "tool_calls",
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
    }
    chunks = replay_chunks(completion, include_usage=True)
    assert chunks[0]["choices"][0]["delta"] == {
        "role": "assistant",
        "tool_calls": [{**call, "index": 0}],
    }
    assert chunks[1]["choices"][0] == {"index": 0, "delta": {}, "finish_reason": "tool_calls"}
    assert chunks[2]["choices"] == [] and chunks[2]["usage"]["total_tokens"] == 3
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert len(replay_chunks(completion, include_usage=False)) == 2


def test_bytes_bound_evicts_least_recently_used_and_refuses_oversized(clock: FakeClock) -> None:
    cache = LRUCache(max_entries=100, ttl=60, max_bytes=1000, clock=clock)
    cache.put("a", "A", 400)
    cache.put("b", "B", 400)
    cache.put("c", "C", 400)  # 1,200 bytes: "a" goes
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (None, "B", "C")
    assert cache.bytes == 800
    cache.put("huge", "H", 1001)  # larger than the whole cache: not stored, nothing evicted
    assert cache.get("huge") is None and cache.bytes == 800
    cache.put("b", "B2", 100)  # replacing an entry counts its new size only
    assert cache.bytes == 500


def test_scope_keeps_client_keys_apart() -> None:
    body = {"model": "groq/llama", "messages": [{"role": "user", "content": "hi"}]}
    assert cache_key(body, CHAIN, "key-aaaa") != cache_key(body, CHAIN, "key-bbbb")
    assert cache_key(body, CHAIN, "key-aaaa") == cache_key(body, CHAIN, "key-aaaa")
