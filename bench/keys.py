"""Key selection cost against the number of keys: ``python -m bench.keys``.

Times KeyPool.acquire + release + counts (what each request does) with 1, 100 and
10,000 keys, best of several rounds, and prints a markdown table.
"""

from __future__ import annotations

import time

from providers.keys import KeyPool
from providers.memkeys import InMemoryKeyStore

ROUNDS = 5
OPERATIONS = 20_000


def cost_per_request(keys: int) -> float:
    """Microseconds for one acquire + counts + release, best of ROUNDS."""
    pool = KeyPool("p", [f"secret-{i}" for i in range(keys)], InMemoryKeyStore())
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(OPERATIONS):
            lease = pool.acquire()
            pool.counts()
            assert lease is not None
            pool.release(lease)
        best = min(best, (time.perf_counter() - started) / OPERATIONS * 1e6)
    return best


def main() -> None:
    results = {n: cost_per_request(n) for n in (1, 100, 10_000)}
    print("| keys | µs per request (acquire + counts + release) | vs 1 key |")
    print("|---:|---:|---:|")
    for n, micros in results.items():
        print(f"| {n:,} | {micros:.2f} | {micros / results[1]:.2f}x |")


if __name__ == "__main__":
    main()
