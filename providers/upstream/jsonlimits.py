"""JSON from clients and upstreams, bounded in nesting depth.

Python's decoder raises ``RecursionError`` somewhere near 1,000 levels, and every
later step (re-encoding, copying into the cache) recurses too, closer to the
limit. A document nested deeper than ``MAX_JSON_DEPTH`` is refused at the door.
"""

from __future__ import annotations

import json
from typing import Any

#: Deepest nesting accepted (a tool's JSON schema rarely goes past 20).
MAX_JSON_DEPTH = 128


class JSONTooDeep(ValueError):
    """The document nests objects and arrays deeper than allowed."""


def loads_bounded(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` that refuses nesting deeper than ``max_depth`` (``ValueError``)."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None
    if isinstance(raw, bytes):
        openers = raw.count(b"{") + raw.count(b"[")
    else:
        openers = raw.count("{") + raw.count("[")
    if openers > max_depth and _deeper_than(data, max_depth):
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    return data


def _deeper_than(data: Any, limit: int) -> bool:
    if type(data) is not dict and type(data) is not list:
        return False
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if type(value) is dict else value
        for child in children:
            if type(child) is dict or type(child) is list:
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False
