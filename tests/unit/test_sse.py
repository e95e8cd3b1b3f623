"""SSE parsing on bytes, however the network cuts them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from providers.errors import UpstreamResponseTooLarge
from providers.upstream import sse
from providers.upstream.sse import Event, iter_events


def split_every(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


STREAM = (
    b': keep-alive\n\ndata: {"a":1}\r\n\r\n'
    b"event: error\ndata: line1\ndata: line2\n\ndata: [DONE]\r\r"
)


@pytest.mark.parametrize("size", [1, 2, 3, 7, 1000])
def test_events_survive_any_chunking(size: int) -> None:
    assert list(iter_events(split_every(STREAM, size))) == [
        Event('{"a":1}'),
        Event("line1\nline2", "error"),
        Event("[DONE]"),
    ]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    assert list(iter_events([b"data: x\r", b"\n", b"\r", b"\n"])) == [Event("x")]


def test_unicode_line_separator_inside_json_does_not_split() -> None:
    payload = '{"t":"a\u2028b"}'.encode()
    assert list(iter_events([b"data: " + payload + b"\n\n"])) == [Event('{"t":"a\u2028b"}')]


def test_half_event_at_end_of_stream_is_dropped() -> None:
    assert list(iter_events([b"data: complete\n\ndata: partial"])) == [Event("complete")]


def test_comments_and_blank_lines_alone_yield_nothing() -> None:
    assert list(iter_events([b": ping\n\n\n\n: OPENROUTER PROCESSING\n\n"])) == []


def test_a_long_line_is_scanned_once_not_once_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """Linear: each byte is searched for line ends once, however many chunks a line spans."""
    scanned = 0
    real = sse._LINE_END

    class Counting:
        def split(self, data: bytes) -> list[bytes]:
            nonlocal scanned
            scanned += len(data)
            return real.split(data)

    monkeypatch.setattr(sse, "_LINE_END", Counting())
    line = b"data: " + b"x" * 2_000_000 + b"\n\n"
    events = list(iter_events(split_every(line, 4096)))
    assert events == [Event("x" * 2_000_000)]
    assert scanned == len(line)


def test_a_line_past_the_cap_raises_before_it_is_buffered_whole() -> None:
    def endless() -> Iterator[bytes]:
        yield b"data: "
        while True:
            yield b"a" * 65536

    with pytest.raises(UpstreamResponseTooLarge):
        list(iter_events(endless(), 1_000_000))


def test_many_data_lines_count_towards_the_event_cap() -> None:
    lines = [b"data: " + b"a" * 1000 + b"\n"] * 2000
    with pytest.raises(UpstreamResponseTooLarge):
        list(iter_events(lines, 1_000_000))
    assert list(iter_events([*lines[:10], b"\n"], 1_000_000)) == [
        Event("\n".join(["a" * 1000] * 10))
    ]
