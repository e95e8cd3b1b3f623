"""What a request starts from: its chain, its cached answer, and its session's pin.

``begin`` resolves the model to its chain, marks the candidates that speak neither the
request's dialect nor chat completions (``Skip.DIALECT``), puts a session's pinned
provider first in its tier, and looks the request up in the response cache.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from providers.options import RouteOptions
from providers.outcomes import Skip
from providers.state.records import Pin

from .affinity import Affinity, pinned_first
from .attempts import Served
from .cache import CachePolicy
from .native import NativeRequest, can_serve
from .resolve import Candidate


@dataclass(frozen=True)
class Turn:
    """One request, ready to walk."""

    options: RouteOptions
    #: The model as the client asked for it.
    asked: str
    chain: list[Candidate]
    #: Its response-cache key (None: not cached), and the cached answer if there is one.
    cache_key: str | None
    hit: tuple[dict[str, Any], Served] | None
    #: Where the session's last turn was served, if it is a session's turn.
    pin: Pin | None


def begin(
    payload: Mapping[str, Any] | None,
    options: RouteOptions,
    native: NativeRequest | None,
    *,
    resolve: Callable[[str, RouteOptions], list[Candidate]],
    cache: CachePolicy,
    affinity: Affinity | None,
) -> Turn:
    """The turn of ``payload`` (translated) and/or ``native`` (the client's own dialect)."""
    body = payload if payload is not None else (native.body if native is not None else {})
    asked = str(body["model"])
    chain = [
        c if can_serve(c, native, payload is not None) else replace(c, skip=Skip.DIALECT)
        for c in resolve(asked, options)
    ]
    pin = affinity.pinned(options.session) if affinity is not None else None
    chain = pinned_first(chain, pin)
    if payload is None:
        return Turn(options, asked, chain, None, None, pin)
    key = cache.key(payload, [(c.provider.name, c.model) for c in chain], options)
    return Turn(options, asked, chain, key, cache.lookup(key, options), pin)
