"""Server-Sent Events, parsed on bytes as they arrive from the upstream.

Lines end in ``\\n``, ``\\r\\n`` or ``\\r`` and are split before decoding (so
U+2028 inside JSON never splits a line); a line may be cut across network
chunks; ``:`` comment lines (keep-alives) are ignored; an event is dispatched at
a blank line, and a half-received event at the end of the stream is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched SSE event."""

    data: str
    event: str = ""


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Yield complete lines (without their ends) from a byte stream cut anywhere."""
    buffer = b""
    for chunk in chunks:
        buffer += chunk
        lines = _LINE_END.split(buffer)
        buffer = lines.pop()
        if buffer == b"" and chunk.endswith(b"\r") and lines:
            # A trailing "\r" may be the first half of "\r\n": hold it for the next chunk.
            buffer = lines.pop() + b"\r"
        yield from lines
    if buffer.endswith(b"\r"):
        yield buffer[:-1]  # the stream ended: the held "\r" ended a line after all


def iter_events(chunks: Iterable[bytes]) -> Iterator[Event]:
    """Yield the events in a byte stream, however its chunks cut the lines."""
    data: list[str] = []
    name = ""
    for line in split_lines(chunks):
        if not line:
            if data:
                yield Event("\n".join(data), name)
            data, name = [], ""
            continue
        field, _, value = line.decode("utf-8", "replace").partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
        elif field == "event":
            name = value
