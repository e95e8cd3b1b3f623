"""What every client dialect is: one protocol, and the helpers the dialects share.

A dialect (``chat``, ``anthropic``, ``responses``) has a schema, turns a valid request
into the internal shape (a chat completions request), shapes the whole answer, encodes
the stream (an ``Encoder``, ``app.dialects.streaming``) and words its errors (an
``ErrorShape``, ``app.errors``). ``app.dialects.serve`` walks the chain for any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from marshmallow import Schema
from providers import WireDialect

from app.dialects.streaming import Encoder
from app.errors import ErrorShape

#: The whole answer in the dialect's terms, from a chat completion.
Whole = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Translated:
    """A client request in the internal shape, and how its answer goes back."""

    chat: dict[str, Any]
    #: Whether the stream's last chunk carries usage (the client asked, or the dialect needs it).
    include_usage: bool
    #: None: the chat completion as it is.
    whole: Whole | None = None
    #: A new encoder for the stream; None: chat completion chunks as they are.
    events: Callable[[], Encoder] | None = None
    #: What the translation left out (built-in tools, unreadable items).
    left_out: tuple[str, ...] = field(default=())


class Dialect(Protocol):
    """One client dialect."""

    @property
    def schema(self) -> Schema:
        """The request's top level, validated before ``translate``."""
        ...

    @property
    def errors(self) -> ErrorShape:
        """How its errors are worded."""
        ...

    @property
    def native(self) -> WireDialect | None:
        """The dialect an upstream may speak to serve it as it is (None: chat itself)."""
        ...

    def translate(self, body: dict[str, Any], limit: int) -> Translated:
        """The valid request ``body`` in the internal shape (``limit``: MAX_RESPONSE_BYTES)."""
        ...


def reasoning_of(delta: dict[str, Any]) -> str:
    """The reasoning text of a message or delta (``reasoning_content`` or ``reasoning``)."""
    value = delta.get("reasoning_content") or delta.get("reasoning")
    return value if isinstance(value, str) else ""


def streamed_with_usage(chat: dict[str, Any]) -> None:
    """Make a translated request a stream that ends with the upstream's usage."""
    chat["stream"] = True
    chat["stream_options"] = {"include_usage": True}
