"""Streams, and their commit point: the whole rule in one place.

Before the first chunk that carries output (content, tool calls, refusal,
reasoning or a finish reason), nothing has reached the client and the walk may
still try elsewhere: ``open_stream`` reads up to that chunk. After it, the
stream belongs to this client (``ChatStream``): a later failure becomes
``StreamInterrupted``, and the key it holds is given back when it closes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from providers.config.shape import RoutingConfig
from providers.errors import (
    BadUpstreamResponse,
    ClientGone,
    ModelSwapped,
    ProviderError,
    StreamInterrupted,
)
from providers.upstream.guard import ClientWatch
from providers.upstream.http import Timeout
from providers.upstream.stream import UpstreamStream, commits

from .answers import Chunk, chunks_for_client, header_safe
from .attempts import Served
from .holds import Held
from .payload import body_for, check_model
from .resolve import Candidate

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class Closable(Protocol):
    """An upstream stream: closed when its client's stream closes, aborted from the alarm."""

    def close(self) -> None:
        """Close the upstream response."""

    def abort(self) -> None:
        """Shut its connection from another thread."""


class OpenStream(Protocol[T_co]):
    """An upstream stream being read: its events, and ``close``."""

    def __iter__(self) -> Iterator[T_co]:
        """The events."""
        ...

    def close(self) -> None:
        """Close the upstream response."""


@dataclass(frozen=True)
class Opened:
    """A stream read up to its commit point."""

    upstream: UpstreamStream
    prelude: list[Chunk]
    rest: Iterator[Chunk]

    def close(self) -> None:
        """Close the upstream response."""
        self.upstream.close()


def open_stream(
    payload: Mapping[str, Any], config: RoutingConfig
) -> Callable[[Candidate, str, Timeout], Opened]:
    """The walk's call for a stream: open it at one candidate and read to the commit point."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> Opened:
        body = body_for(payload, candidate, config)
        upstream = candidate.provider.upstream.stream_chat(body, secret, timeout)
        prelude, rest = read_prelude(upstream, commits)
        try:
            check_model(candidate, prelude[0].get("model"), config)
        except ModelSwapped:
            upstream.close()
            raise
        # Committed: from here a read timeout means a stall, not a slow first byte.
        upstream.set_read_timeout(config.timeout_read)
        return Opened(upstream, prelude, rest)

    return call


def read_prelude(
    stream: OpenStream[T], committed: Callable[[T], bool]
) -> tuple[list[T], Iterator[T]]:
    """Read events up to and including the first that ``committed`` (a chat chunk with
    output, a native content event); close the stream on failure."""
    events = iter(stream)
    prelude: list[T] = []
    try:
        for event in events:
            prelude.append(event)
            if committed(event):
                return prelude, events
        raise BadUpstreamResponse("the upstream stream ended without any output")
    except BaseException:
        stream.close()
        raise


class Committed:
    """What every committed stream does: relay past the commit point, turn a later failure
    into ``StreamInterrupted``, end at once when the client leaves, and on ``close`` give
    the key back and count the usage the upstream reported."""

    def __init__(
        self,
        upstream: Closable | None,
        served: Served,
        *,
        held: Held | None = None,
        client_gone: Callable[[], bool] | None = None,
        on_usage: Callable[[object], None] | None = None,
    ) -> None:
        self._upstream = upstream
        self._held = held
        self._failure: ProviderError | None = None
        self._closed = False
        #: The usage the upstream reported, counted when the stream closes.
        self._on_usage: Callable[[object], None] | None = on_usage
        self._usage: object = None
        #: Who served the stream.
        self.served = served
        # A client that leaves while the upstream is silent ends the stream at once,
        # not at the next event (which may be a read timeout away).
        self._watch = (
            ClientWatch(client_gone, upstream.abort)
            if client_gone is not None and upstream is not None
            else None
        )

    def _relayed(self, rest: Iterator[T]) -> Iterator[T]:
        """``rest``, with a failure after the commit point as ``StreamInterrupted``."""
        try:
            yield from rest
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
            if self._held is not None:
                self._held.finish(self._failure)
            if self._on_usage is not None and self._usage is not None:
                self._on_usage(self._usage)


class ChatStream(Committed):
    """A committed chat stream in the client's terms; iterate once, then ``close``."""

    def __init__(
        self,
        opened: Opened | list[Chunk],
        served: Served,
        *,
        model: str,
        include_usage: bool,
        held: Held | None = None,
        client_gone: Callable[[], bool] | None = None,
        on_usage: Callable[[object], None] | None = None,
    ) -> None:
        if isinstance(opened, Opened):
            upstream: UpstreamStream | None = opened.upstream
            prelude, self._rest = opened.prelude, opened.rest
        else:  # a replay from the response cache: chunks, no upstream
            upstream, prelude, self._rest = None, opened, iter(())
        super().__init__(upstream, served, held=held, client_gone=client_gone, on_usage=on_usage)
        self._prelude = prelude
        self._model, self._include_usage = model, include_usage
        #: The model the upstream says answered.
        self.served_model = header_safe(prelude[0].get("model")) if prelude else None

    def __iter__(self) -> Iterator[Chunk]:
        return chunks_for_client(
            self._chunks(), model=self._model, include_usage=self._include_usage
        )

    def _chunks(self) -> Iterator[Chunk]:
        yield from self._prelude
        self._prelude = []
        for chunk in self._relayed(self._rest):
            if chunk.get("usage"):
                self._usage = chunk["usage"]
            yield chunk
