"""Replies that replay exchanges recorded from a real G4F API server, byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from .upstream import Reply

RECORDED = Path(__file__).parent / "g4f_recorded"
#: Headers the fake server writes itself (framing), not replayed from the recording.
_FRAMING = {"content-length", "transfer-encoding", "date", "server"}


def recorded(name: str) -> Reply:
    """The recorded answer in ``g4f_recorded/<name>``: status, headers and body bytes.

    A chunked body is replayed one SSE event per chunk, as G4F sends it.
    """
    raw = (RECORDED / name).read_bytes()
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: dict[str, str] = {}
    chunked = False
    for line in header_lines:
        name_, _, value = line.partition(":")
        if name_.lower() == "transfer-encoding":
            chunked = True
        if name_.lower() not in _FRAMING:
            headers[name_] = value.strip()
    if not chunked:
        return Reply(status=status, headers=headers, raw=body)
    events = [event + b"\n\n" for event in body.split(b"\n\n") if event]
    return Reply(status=status, headers=headers, pieces=lambda: iter(events))


def events_of(name: str) -> Iterator[bytes]:
    """The events of a recorded stream, as sent."""
    raw = (RECORDED / name).read_bytes()
    body = raw.partition(b"\r\n\r\n")[2]
    return (event + b"\n\n" for event in body.split(b"\n\n") if event)
