"""Key selection cost against the number of keys: ``python -m bench.keys``.

Times KeyPool.acquire + release + counts (what each request does) with 1, 100 and
10,000 keys, best of several rounds, and prints a markdown table; ``--stores`` adds the
shared stores (``sqlite:////tmp/k.db``, ``redis://127.0.0.1:6379/0``), each pool fresh.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid

from providers.config.shape import RoutingConfig
from providers.health.keys import KeyPool
from providers.state.contract import KeyStore
from providers.state.open import open_state

ROUNDS = 5
OPERATIONS = 20_000


def cost_per_request(keys: int, store: KeyStore, operations: int = OPERATIONS) -> float:
    """Microseconds for one acquire + counts + release, best of ROUNDS."""
    name = f"p-{uuid.uuid4().hex[:8]}"  # a fresh pool in a store that outlives the run
    pool = KeyPool(name, [f"secret-{i}" for i in range(keys)], store)
    best = float("inf")
    for _ in range(ROUNDS):
        started = time.perf_counter()
        for _ in range(operations):
            lease = pool.acquire()
            pool.counts()
            assert lease is not None
            pool.release(lease)
        best = min(best, (time.perf_counter() - started) / operations * 1e6)
    return best


def main(argv: list[str] | None = None) -> None:
    """Print the table for each store."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stores", default="memory://", help="comma list of STATE_URLs")
    parser.add_argument("--operations", type=int, default=OPERATIONS, help="per round")
    args = parser.parse_args(argv)
    print("| store | keys | µs per request (acquire + counts + release) | vs 1 key |")
    print("|---|---:|---:|---:|")
    for url in args.stores.split(","):
        if url == "sqlite://":  # a throwaway state file
            url = f"sqlite:///{tempfile.mkdtemp(prefix='keyrelay-bench-')}/state.db"
        store = open_state(RoutingConfig(providers=(), state_url=url)).keys
        results = {n: cost_per_request(n, store, args.operations) for n in (1, 100, 10_000)}
        for n, micros in results.items():
            print(f"| {url.split(':')[0]} | {n:,} | {micros:.2f} | {micros / results[1]:.2f}x |")


if __name__ == "__main__":
    main()
