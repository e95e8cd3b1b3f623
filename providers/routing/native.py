"""Native dialects: a request sent as the client sent it to a candidate that speaks it.

A Messages request to a provider that speaks Messages (Anthropic, or ``<P>_DIALECTS``)
goes as its own body with the model patched in, and its answer comes back as the
upstream sent it; a candidate that does not speak it gets the translated chat request.
The walk, its keys, circuits and deadline, and the commit point, are the chat path's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from providers.config.catalog import WireDialect
from providers.config.shape import RoutingConfig
from providers.errors import BadUpstreamResponse
from providers.upstream.http import Timeout
from providers.upstream.jsonlimits import dumps
from providers.upstream.native import NativeAnswer, chat_usage, commits
from providers.upstream.native_stream import NativeEvent, NativeStream

from .answers import header_safe
from .attempts import Served
from .failover import Call
from .holds import Held
from .relay import Committed, read_prelude
from .resolve import Candidate

#: Body fields that are keyrelay's own (never a provider's): not sent on.
OWN_FIELD_PREFIX = "keyrelay_"


@dataclass(frozen=True)
class NativeRequest:
    """A client request in its own dialect, for the candidates that speak it."""

    dialect: WireDialect
    #: The client's body as it came (validated).
    body: Mapping[str, Any]
    #: The client's version and beta headers, lower-cased (``upstream.native.FORWARDED_HEADERS``).
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The bytes ``body`` was read from: sent as they are when nothing in them changes.
    raw: bytes = b""

    def spoken_by(self, candidate: Candidate) -> bool:
        """True when ``candidate`` speaks this request's dialect."""
        return self.dialect in candidate.provider.config.dialects

    def body_for(self, candidate: Candidate) -> bytes:
        """The client's body for ``candidate``: its model id, keyrelay's fields left out; the
        client's own bytes when that changes nothing."""
        own = [k for k in self.body if k.startswith(OWN_FIELD_PREFIX)]
        if self.raw and not own and self.body.get("model") == candidate.model:
            return self.raw
        body = {k: v for k, v in self.body.items() if k not in own}
        body["model"] = candidate.model
        return dumps(body)


def ask_native(request: NativeRequest) -> Callable[[Candidate, str, Timeout], NativeAnswer]:
    """The walk's call for a whole native answer."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> NativeAnswer:
        upstream = candidate.provider.upstream
        body = request.body_for(candidate)
        return upstream.native(request.dialect, body, secret, request.headers, timeout)

    return call


def count_native(request: NativeRequest) -> Callable[[Candidate, str, Timeout], int]:
    """The walk's call for a Messages request's token count, by a provider that speaks it."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> int:
        body = request.body_for(candidate)
        return candidate.provider.upstream.count_tokens(body, secret, request.headers, timeout)

    return call


@dataclass(frozen=True)
class NativeOpened:
    """A native stream read up to its commit point."""

    upstream: NativeStream
    prelude: list[NativeEvent]
    rest: Iterator[NativeEvent]

    def close(self) -> None:
        """Close the upstream response."""
        self.upstream.close()


def open_native(
    request: NativeRequest, config: RoutingConfig
) -> Callable[[Candidate, str, Timeout], NativeOpened]:
    """The walk's call for a native stream: open it and read to the commit point (an error
    event or ``response.failed`` before it is this attempt's failure)."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> NativeOpened:
        upstream = candidate.provider.upstream
        body = request.body_for(candidate)
        stream = upstream.stream_native(request.dialect, body, secret, request.headers, timeout)
        prelude, rest = read_prelude(stream, lambda event: commits(request.dialect, event.kind))
        # Committed: from here a read timeout means a stall, not a slow first byte.
        stream.set_read_timeout(config.timeout_read)
        return NativeOpened(stream, prelude, rest)

    return call


class NativeRelay(Committed):
    """A committed native stream: its events as the upstream sent them; iterate once, then
    ``close`` (the usage is counted then, cache reads and writes included)."""

    def __init__(
        self,
        opened: NativeOpened,
        served: Served,
        *,
        held: Held | None = None,
        client_gone: Callable[[], bool] | None = None,
        on_usage: Callable[[object], None] | None = None,
    ) -> None:
        super().__init__(
            opened.upstream, served, held=held, client_gone=client_gone, on_usage=on_usage
        )
        self.dialect = opened.upstream.dialect
        self._opened = opened
        self._prelude = opened.prelude
        #: The model the upstream says answered.
        self.served_model = header_safe(_model_of(opened.prelude[0].data))

    def __iter__(self) -> Iterator[NativeEvent]:
        yield from self._prelude
        self._prelude = []
        yield from self._relayed(self._opened.rest)

    def close(self) -> None:
        """Count what the upstream reported of its usage, then close as every stream does."""
        if not self._closed:
            stream = self._opened.upstream
            self._usage = chat_usage(stream.dialect, stream.usage)
        super().close()


def _model_of(data: Mapping[str, Any]) -> object:
    """The model an opening event names (``message_start.message``, ``response.created``)."""
    for inner in ("message", "response"):
        if isinstance(data.get(inner), Mapping):
            return data[inner].get("model")
    return data.get("model")


A = TypeVar("A")
B = TypeVar("B")


def per_candidate(
    request: NativeRequest | None, native: Call[A] | None, translated: Call[B] | None
) -> Call[A | B]:
    """One walk's call: ``native`` for a candidate that speaks the request's dialect,
    ``translated`` (chat completions) for the others."""

    def call(candidate: Candidate, secret: str, timeout: Timeout) -> A | B:
        if request is not None and native is not None and request.spoken_by(candidate):
            return native(candidate, secret, timeout)
        if translated is None:  # the chain marked it (``Skip.DIALECT``): never reached
            raise BadUpstreamResponse(f"{candidate.provider.name} does not speak this dialect")
        return translated(candidate, secret, timeout)

    return call


def can_serve(candidate: Candidate, request: NativeRequest | None, translated: bool) -> bool:
    """True when ``candidate`` takes the request natively or (``translated``) as chat."""
    if request is not None and request.spoken_by(candidate):
        return True
    return translated and WireDialect.CHAT in candidate.provider.config.dialects
