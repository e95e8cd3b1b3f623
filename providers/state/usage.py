"""Usage accounting: every upstream request counted per provider, key fingerprint and UTC day.

Requests, how they ended, and the tokens the upstream reported. ``InMemoryUsage``
keeps it in the process (``STATE_URL=memory://``); the SQLite store keeps it in the
state file (``providers.state.sqlite.keys``), shared by the host's workers and kept across
restarts, for ``USAGE_RETENTION_DAYS``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

SECONDS_PER_DAY = 86400


def utc_day(now: float | None = None) -> str:
    """``YYYY-MM-DD`` in UTC."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if now is None else now))


def token_counts(usage: Any) -> tuple[int, int, int] | None:
    """(prompt, completion, total) from an OpenAI ``usage`` object, or None."""
    if not isinstance(usage, Mapping):
        return None
    values = [usage.get(k) for k in ("prompt_tokens", "completion_tokens", "total_tokens")]
    numbers = [
        v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else 0 for v in values
    ]
    if not any(numbers):
        return None
    prompt, completion, total = numbers
    return prompt, completion, total or prompt + completion
