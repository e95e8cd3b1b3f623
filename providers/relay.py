"""A committed stream: the upstream answered with output, and the client will get it all.

Before the first chunk that carries output (content, tool calls, refusal,
reasoning or a finish reason), nothing has reached the client and the router
may still try elsewhere: ``open_committed`` reads up to that chunk. After it,
the stream belongs to this client; a later failure becomes ``StreamInterrupted``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from .chain import Served
from .errors import BadUpstreamResponse, ClientGone, ProviderError, StreamInterrupted
from .guard import ClientWatch
from .upstream import Chunk, UpstreamStream, commits


def header_safe(value: object) -> str | None:
    """An upstream-chosen string fit for a response header: printable ASCII, 128 at most."""
    if not isinstance(value, str):
        return None
    return _UNSAFE.sub("", value)[:128] or None


_UNSAFE = re.compile(r"[^\x21-\x7e]")


def read_prelude(stream: UpstreamStream) -> tuple[list[Chunk], Iterator[Chunk]]:
    """Read chunks up to and including the first one with output; close the stream on failure."""
    chunks = iter(stream)
    prelude: list[Chunk] = []
    try:
        for chunk in chunks:
            prelude.append(chunk)
            if commits(chunk):
                return prelude, chunks
        raise BadUpstreamResponse("the upstream stream ended without any output")
    except BaseException:
        stream.close()
        raise


class ChatStream:
    """The chunks of a committed stream; iterate once, then ``close``."""

    def __init__(
        self,
        prelude: list[Chunk],
        rest: Iterator[Chunk],
        upstream: UpstreamStream | None,
        on_close: Callable[[ProviderError | None], None],
        served: Served,
        client_gone: Callable[[], bool] | None = None,
    ) -> None:
        self._prelude = prelude
        self._rest = rest
        self._upstream = upstream
        self._on_close = on_close
        self._failure: ProviderError | None = None
        self._closed = False
        #: Who served the stream.
        self.served = served
        #: The model the upstream says answered (the first chunk's ``model``).
        self.served_model = header_safe(prelude[0].get("model")) if prelude else None
        # A client that leaves while the upstream is silent ends the stream at once,
        # not at the next event (which may be a read timeout away).
        self._watch = (
            ClientWatch(client_gone, upstream.abort)
            if client_gone is not None and upstream is not None
            else None
        )

    def __iter__(self) -> Iterator[Chunk]:
        yield from self._prelude
        self._prelude = []
        try:
            yield from self._rest
        except ProviderError as exc:
            if self._watch is not None and self._watch.fired:
                raise ClientGone("the client closed its connection during the stream") from exc
            self._failure = exc
            raise StreamInterrupted(
                f"the upstream stream failed after it started: {exc.message}",
                upstream_status=exc.upstream_status,
            ) from exc

    def close(self) -> None:
        """Close the upstream connection and give the key back; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._watch is not None:
            self._watch.stop()
        try:
            if self._upstream is not None:
                self._upstream.close()
        finally:
            self._on_close(self._failure)
