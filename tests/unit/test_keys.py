"""Key selection and what each outcome does to a key."""

from __future__ import annotations

import threading

import pytest

from providers.errors import KeyRejected, QuotaExhausted, RateLimited, UpstreamServerError
from providers.health.keys import KeyPolicy, KeyPool
from providers.secrets import Redactor, fingerprint
from providers.state.memory.keys import InMemoryKeyStore
from providers.state.records import COOLING, DISABLED, EXHAUSTED
from tests.helpers import FakeClock as Clock


def pool(clock: Clock, n: int = 3, **kwargs: object) -> KeyPool:
    return KeyPool(
        "p", [f"secret-{i}" for i in range(n)], InMemoryKeyStore(), clock=clock, **kwargs
    )  # type: ignore[arg-type]


def test_least_recently_used_key_first(clock: Clock) -> None:
    keys = pool(clock)
    order = []
    for _ in range(6):
        lease = keys.acquire()
        assert lease is not None
        order.append(lease.secret)
        keys.release(lease)
        clock.now += 1
    assert order == ["secret-0", "secret-1", "secret-2"] * 2


def test_least_busy_key_first(clock: Clock) -> None:
    keys = pool(clock, 2)
    held = keys.acquire()
    assert held is not None
    clock.now += 1
    other = keys.acquire()
    assert other is not None and other.key_id != held.key_id
    keys.release(other)
    clock.now += 1
    # secret-1 was used more recently, but secret-0 is still busy.
    again = keys.acquire()
    assert again is not None and again.key_id == other.key_id


def test_exclude_and_max_in_flight(clock: Clock) -> None:
    keys = pool(clock, 2, max_in_flight=1)
    a, b = keys.acquire(), keys.acquire()
    assert a and b and keys.acquire() is None
    keys.release(a)
    keys.release(a)  # a second release is harmless
    assert keys.acquire(exclude={a.key_id}) is None
    assert keys.acquire() is not None


def test_rate_limit_cooldown_is_honoured_and_never_shortened(clock: Clock) -> None:
    keys = pool(clock, 1)
    lease = keys.acquire()
    assert lease is not None
    keys.release(lease)
    keys.record(lease, RateLimited("slow", retry_after=30))
    keys.record(lease, RateLimited("slow", retry_after=5))  # a later, shorter 429
    assert keys.counts()[COOLING] == 1
    clock.now += 29.9
    assert keys.acquire() is None
    assert keys.next_available_in() == pytest.approx(0.1)
    clock.now += 0.2
    assert keys.acquire() is not None


def test_default_backoff_doubles_until_a_success(clock: Clock) -> None:
    keys = pool(clock, 1, policy=KeyPolicy(rate_limit_cooldown=2))
    lease = keys.acquire()
    assert lease is not None
    keys.release(lease)
    waits = []
    for _ in range(3):
        keys.record(lease, RateLimited("slow"))
        waits.append(round(keys.next_available_in() or 0))
        clock.now += 100
    keys.record(lease, None)
    keys.record(lease, RateLimited("slow"))
    assert waits == [2, 4, 8]
    assert keys.next_available_in() == pytest.approx(2)


@pytest.mark.parametrize(
    ("error", "status", "seconds"),
    [(KeyRejected("no"), DISABLED, 500.0), (QuotaExhausted("broke"), EXHAUSTED, 300.0)],
)
def test_auth_and_quota_failures_block_for_long(
    clock: Clock, error: Exception, status: str, seconds: float
) -> None:
    keys = pool(clock, 1, policy=KeyPolicy(auth_failure_cooldown=500, quota_cooldown=300))
    lease = keys.acquire()
    assert lease is not None
    keys.record(lease, error)  # type: ignore[arg-type]
    assert keys.counts()[status] == 1
    assert keys.next_available_in() == pytest.approx(seconds)


def test_provider_failures_do_not_touch_the_key(clock: Clock) -> None:
    keys = pool(clock, 1)
    lease = keys.acquire()
    assert lease is not None
    keys.record(lease, UpstreamServerError("500"))
    assert keys.next_available_in() is None


def test_concurrent_acquire_release_keeps_counts_exact(clock: Clock) -> None:
    keys = pool(clock, 4, max_in_flight=2)
    errors = []

    def work() -> None:
        for _ in range(500):
            lease = keys.acquire()
            if lease is not None:
                if keys.states()[lease.key_id].in_flight > 2:
                    errors.append(lease.key_id)
                keys.release(lease)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert all(s.in_flight == 0 for s in keys.states().values())


def test_duplicate_keys_merge_and_fingerprints_hide_secrets() -> None:
    keys = KeyPool("p", ["same-secret", "same-secret"], InMemoryKeyStore())
    assert len(keys.key_ids) == 1
    assert "same-secret" not in keys.key_ids[0] and "same-secret" not in repr(keys.acquire())


def test_redactor_replaces_known_and_key_shaped_secrets() -> None:
    redact = Redactor(["my-private-upstream-key"])
    text = redact("bad key my-private-upstream-key, also sk-proj-ABCDEFGHIJKLMNOP1234")
    assert "my-private-upstream-key" not in text and "ABCDEFGHIJKLMNOP1234" not in text
    assert fingerprint("my-private-upstream-key") in text


def test_two_keys_sharing_a_fingerprint_are_both_kept_and_warned_about(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from providers.health import keys as keys_module

    monkeypatch.setattr(keys_module, "fingerprint", lambda secret: "key-same")
    with caplog.at_level("WARNING", logger="providers.health.keys"):
        named = keys_module.named_by_fingerprint(
            "groq", ["sk-one-aaaa", "sk-two-bbbb", "sk-one-aaaa"]
        )
    assert named == {"key-same": "sk-one-aaaa", "key-same-2": "sk-two-bbbb"}
    assert "share the fingerprint" in caplog.text and "sk-two" not in caplog.text


def test_fingerprints_are_long_enough_not_to_collide() -> None:
    from providers.secrets import fingerprint

    names = {fingerprint(f"sk-generated-key-{n:08d}") for n in range(200_000)}
    assert len(names) == 200_000  # 8 hex digits collided after about 107,000 keys
    assert len(fingerprint("sk-x")) == len("key-") + 16
