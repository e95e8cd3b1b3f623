"""Reading settings from environment variables: one place for each parser and word set.

Every reader raises ``ConfigError`` naming the variable, so a bad deployment stops
at start-up with one line. ``positive_int`` and ``parse_bool`` also serve values
that arrive in request headers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: The words a true / false setting (or header) may be written with, in any case.
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})

_POSITIVE = re.compile(r"[0-9]{1,9}")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


def parse_bool(raw: str) -> bool | None:
    """True, False, or None when ``raw`` is none of the accepted words."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def positive_int(raw: str) -> int | None:
    """``raw`` as an integer of at least 1 written in ASCII digits (at most 9), else None.

    ``str.isdigit`` accepts "\u00b2" and ``int`` refuses 5,000 digits: neither may
    reach ``int`` from a client header or a configuration value.
    """
    if not _POSITIVE.fullmatch(raw):
        return None
    value = int(raw)
    return value if value >= 1 else None


def env_str(env: Mapping[str, str], name: str, default: str = "") -> str:
    """Return a variable with surrounding whitespace removed, or ``default`` when unset/empty."""
    return env.get(name, "").strip() or default


def env_float(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    minimum: float = 0.0,
    maximum: float = float("inf"),
) -> float:
    """Return a number from ``minimum`` to ``maximum``, or raise ``ConfigError``."""
    raw = env_str(env, name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None
    if value < minimum or value != value:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum:g}")
    if value > maximum:
        raise ConfigError(f"{name}={raw!r} must be at most {maximum:g}")
    return value


def env_int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    """Return an integer of at least ``minimum``, or raise ``ConfigError``."""
    raw = env_str(env, name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise ConfigError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    """Return a boolean written as true/false, yes/no, on/off or 1/0."""
    raw = env_str(env, name)
    if not raw:
        return default
    value = parse_bool(raw)
    if value is None:
        raise ConfigError(f"{name}={raw.lower()!r} is not a boolean (use true or false)")
    return value


def env_list(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Return a comma-separated list without empty items."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())
