"""JSON from clients and upstreams: read once and written once with orjson, bounded in depth.

orjson reads and writes JSON at about a microsecond per KB (the standard library takes
three to four times that to read and thirty times that to write), so the size of an
agent's request costs next to nothing. What orjson refuses and the standard library
reads (a byte-order mark, a lone surrogate ``\\ud800``) is read by the standard library,
as before, and so is a document with an integer past 64 bits (orjson would round it);
what orjson cannot write (such an integer, a lone surrogate) is written by the standard
library (ASCII-escaped, so still valid UTF-8). A document nested deeper than
``MAX_JSON_DEPTH`` is refused at the door: every later step that walks it would recurse too.
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
    exact = False
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):
            raise _too_deep(max_depth) from None
        data, exact = _stdlib_loads(raw, max_depth), True  # what only the standard library reads
    too_deep, wide_number = _walk(data, max_depth)
    if too_deep:
        raise _too_deep(max_depth)
    if wide_number and not exact:
        data = _stdlib_loads(raw, max_depth)  # an integer past 64 bits, kept exact
    return data


def _too_deep(max_depth: int) -> JSONTooDeep:
    return JSONTooDeep(f"JSON nested deeper than {max_depth} levels")


def _stdlib_loads(raw: bytes | str, max_depth: int) -> Any:
    try:
        return json.loads(raw)
    except RecursionError:
        raise _too_deep(max_depth) from None


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
#: orjson reads an integer outside these bounds as a float: such a float sends the document
#: to the standard library, which keeps the integer exact.
_INT_LOW, _INT_HIGH = -(2**63), 2**64


def _walk(data: Any, limit: int) -> tuple[bool, bool]:
    """One level at a time, containers only: whether ``data`` nests deeper than ``limit``,
    and whether it holds a float past 64-bit integers (which may have been an integer)."""
    if type(data) is float:
        return False, not _INT_LOW <= data < _INT_HIGH
    level = [data] if type(data) in _CONTAINERS else []
    depth, wide = 0, False
    while level:
        depth += 1
        if depth > limit:
            return True, wide
        below: list[Any] = []
        add = below.append
        for value in level:
            for child in value.values() if type(value) is dict else value:
                kind = type(child)
                if kind in _CONTAINERS:
                    add(child)
                elif kind is float and not _INT_LOW <= child < _INT_HIGH:
                    wide = True
        level = below
    return False, wide
