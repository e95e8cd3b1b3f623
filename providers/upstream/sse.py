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

from providers.errors import UpstreamResponseTooLarge

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(frozen=True)
class Event:
    """One dispatched SSE event."""

    data: str
    event: str = ""


def split_lines(chunks: Iterable[bytes], max_line: int | None = None) -> Iterator[bytes]:
    """Yield complete lines (without their ends) from a byte stream cut anywhere.

    Only each new chunk is searched for line ends, so a long line costs time in
    proportion to its length; a line longer than ``max_line`` raises
    ``UpstreamResponseTooLarge`` instead of growing without end.
    """
    pending: list[bytes] = []  # the pieces of a line whose end has not arrived
    size = 0
    after_cr = False
    for chunk in chunks:
        if after_cr and chunk.startswith(b"\n"):
            chunk = chunk[1:]  # the second half of a "\r\n" cut between chunks
        after_cr = chunk.endswith(b"\r")
        lines = _LINE_END.split(chunk)
        last = lines.pop()
        if lines:
            if pending:
                lines[0] = b"".join(pending) + lines[0]
                pending, size = [], 0
            yield from lines
        if last:
            pending.append(last)
            size += len(last)
            if max_line is not None and size > max_line:
                raise _too_large(max_line)


def _too_large(limit: int) -> UpstreamResponseTooLarge:
    return UpstreamResponseTooLarge(
        f"the upstream sent a stream event larger than MAX_UPSTREAM_EVENT_BYTES ({limit} bytes)"
    )


def iter_events(chunks: Iterable[bytes], max_event: int | None = None) -> Iterator[Event]:
    """Yield the events in a byte stream, however its chunks cut the lines.

    ``max_event`` bounds one line and the data of one event (several ``data:`` lines).
    """
    data: list[str] = []
    size = 0
    name = ""
    for line in split_lines(chunks, max_event):
        if not line:
            if data:
                yield Event("\n".join(data), name)
            data, size, name = [], 0, ""
            continue
        field, _, value = line.decode("utf-8", "replace").partition(":")
        if value.startswith(" "):
            value = value[1:]
        if field == "data":
            data.append(value)
            size += len(value)
            if max_event is not None and size > max_event:
                raise _too_large(max_event)
        elif field == "event":
            name = value
