"""How long an upstream asked us to wait, read from its headers and error body."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from datetime import datetime
from typing import Any

_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def parse_duration(value: str) -> float | None:
    """Parse ``12ms``, ``1s``, ``6m0s``, ``1h2m3.5s`` or a plain number of seconds."""
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parts = _GO_DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _retry_after_header(value: str, now: float) -> float | None:
    seconds = parse_duration(value)
    if seconds is not None:
        return seconds
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


def _reset_seconds(value: str, now: float) -> float | None:
    """A reset header is a duration, (OpenRouter) an epoch in seconds or milliseconds, or
    (Anthropic) an RFC 3339 time."""
    seconds = parse_duration(value)
    if seconds is None:
        try:
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            return None
        return max(0.0, when.timestamp() - now)
    if seconds > 1e12:
        return max(0.0, seconds / 1000.0 - now)
    if seconds > 1e9:
        return max(0.0, seconds - now)
    return seconds


def _is_reset(name: str) -> bool:
    """``x-ratelimit-reset-<limit>`` (OpenAI), ``anthropic-ratelimit-<limit>-reset``."""
    return name.startswith("x-ratelimit-reset") or (
        name.startswith("anthropic-ratelimit-") and name.endswith("-reset")
    )


def _from_body(body: Mapping[str, Any] | None) -> float | None:
    """``error.retry_after`` (hosted G4F) or Google's ``RetryInfo.retryDelay``."""
    if not body:
        return None
    for detail in body.get("details") or []:
        if isinstance(detail, dict) and isinstance(detail.get("retryDelay"), str):
            return parse_duration(detail["retryDelay"])
    value = body.get("retry_after")
    if isinstance(value, int | float | str):
        return parse_duration(str(value))
    return None


def retry_after(
    headers: Mapping[str, str], body: Mapping[str, Any] | None = None, now: float | None = None
) -> float | None:
    """Return the seconds to wait that the upstream asked for, or None if it did not say."""
    now = time.time() if now is None else now
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        ms = parse_duration(lowered["retry-after-ms"])
        if ms is not None:
            return ms / 1000.0
    if "retry-after" in lowered:
        seconds = _retry_after_header(lowered["retry-after"], now)
        if seconds is not None:
            return seconds
    resets: list[float] = []
    exhausted: list[float] = []
    for name, value in lowered.items():
        if not _is_reset(name):
            continue
        seconds = _reset_seconds(value, now)
        if seconds is None:
            continue
        resets.append(seconds)
        remaining = lowered.get(name.replace("-reset", "-remaining"), "").strip()
        if remaining == "0":
            exhausted.append(seconds)
    if exhausted or resets:
        # The reset of the limit that actually ran out; if unknown, the latest one.
        return max(exhausted or resets)
    return _from_body(body)
