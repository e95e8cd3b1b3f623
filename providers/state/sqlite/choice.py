"""Choosing a key of a pool without a cap from the state file, without reading every key.

The file gives the pool's usable keys least recently used first (an index); this worker
knows which of them it holds now and which it used but has not written yet. A key's rank
is (held here, last use, position); the file's order is a lower bound of the rank, so the
scan stops at the first row that cannot beat the best key found: after the keys this
worker touched lately (``USED_FLUSH_BATCH`` at most) and those it holds, not after all.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

#: A row of ``keys``, least recently used first: key, last use, position, strikes.
Row = tuple[str, float, int, int]


def least_busy_least_used(
    rows: Iterable[Row],
    wanted: Collection[str],
    exclude: Collection[str],
    busy: Mapping[str, int],
    used: Mapping[str, float],
) -> tuple[str, int] | None:
    """The best key and its strikes: least held here, then least recently used, then first."""
    best: tuple[int, float, int] | None = None
    chosen: tuple[str, int] | None = None
    for key, last, position, strikes in rows:
        if best is not None and (0, last, position) >= best:
            break  # every later row ranks at least this low
        if key not in wanted or key in exclude:
            continue
        rank = (busy.get(key, 0), max(last, used.get(key, 0.0)), position)
        if best is None or rank < best:
            best, chosen = rank, (key, strikes)
    return chosen
