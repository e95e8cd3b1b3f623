"""SSE parsing on bytes, however the network cuts them."""

from __future__ import annotations

import pytest

from providers.sse import Event, iter_events


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
