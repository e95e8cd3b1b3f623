"""JSON from clients and upstreams: read once and written once with orjson, bounded in depth.

orjson reads and writes JSON at about a microsecond per KB (the standard library takes
three to four times that to read and thirty times that to write), so the size of an
agent's request costs next to nothing. What orjson refuses and the standard library
reads (a byte-order mark, a lone surrogate ``\\ud800``) is read by the standard library,
as before; what orjson cannot write (an integer past 64 bits, a lone surrogate) is
written by the standard library (ASCII-escaped, so still valid UTF-8). A document nested
deeper than ``MAX_JSON_DEPTH`` is refused at the door: every later step that walks it
would recurse too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

#: Deepest nesting accepted (a tool's JSON schema rarely goes past 20).
MAX_JSON_DEPTH = 128


class JSONTooDeep(ValueError):
    """The document nests objects and arrays deeper than allowed."""


def loads_bounded(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """The JSON value in ``raw``; ``ValueError`` when it is not JSON, ``JSONTooDeep`` (a
    ``ValueError``) when it nests deeper than ``max_depth``."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None
        data = _stdlib_loads(raw, max_depth)
    if _deeper_than(data, max_depth):
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels")
    return data


def _stdlib_loads(raw: bytes | str, max_depth: int) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise JSONTooDeep(f"JSON nested deeper than {max_depth} levels") from None


def dumps(
    value: Any, *, sort_keys: bool = False, default: Callable[[Any], Any] | None = None
) -> bytes:
    """``value`` as compact JSON bytes (UTF-8, no ASCII escapes), in the order of its keys
    unless ``sort_keys``; ``default`` turns what JSON cannot hold into what it can."""
    try:
        return orjson.dumps(value, default, orjson.OPT_SORT_KEYS if sort_keys else 0)
    except TypeError:
        # orjson.JSONEncodeError is a TypeError: a big integer, a lone surrogate, a subclass.
        text = json.dumps(value, separators=(",", ":"), sort_keys=sort_keys, default=default)
        return text.encode()


_CONTAINERS = frozenset((dict, list))


def _deeper_than(data: Any, limit: int) -> bool:
    """Whether ``data`` nests deeper than ``limit``: one level at a time, containers only."""
    level = [data] if type(data) in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limit:
            return True
        below: list[Any] = []
        add = below.append
        for value in level:
            for child in value.values() if type(value) is dict else value:
                if type(child) in _CONTAINERS:
                    add(child)
        level = below
    return False
