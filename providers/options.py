"""What a client allowed for one request: fallback, lowest tier, cache use, its identity."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CacheMode(StrEnum):
    """How a request uses the response cache."""

    #: Read and store.
    USE = "use"
    #: Store only (``Cache-Control: no-cache``).
    REFRESH = "refresh"
    #: Neither (``Cache-Control: no-store``).
    OFF = "off"


@dataclass(frozen=True)
class RouteOptions:
    """What the client allowed for this request."""

    fallback: bool = True
    max_tier: int | None = None
    cache: CacheMode = CacheMode.USE
    #: The client key's fingerprint: cached answers are kept apart per client key.
    client: str = ""
    #: Says whether the client has closed its connection (checked while waiting upstream).
    client_gone: Callable[[], bool] | None = None
    #: Streams: the client asked for usage in a final chunk (``stream_options.include_usage``).
    include_usage: bool = False
    #: The session this request is a turn of (a digest scoped by client key and model), if
    #: it is one: its turns stay on one provider and key while that key is usable.
    session: str | None = None
    #: Patterns on the providers that may serve it (the client key's); empty: any.
    providers: tuple[str, ...] = ()
    #: Told the tokens the upstream reported for this request (the client key's settlement).
    on_tokens: Callable[[tuple[int, int, int, int]], None] | None = None
