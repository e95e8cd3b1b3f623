"""The one internal answer shape, in the client's terms, that the web edge encodes.

Answers leave ``providers/`` already normalised: ``model`` is the name the client
asked for (the model that actually answered is ``served_model``), and a stream
reports usage once, in OpenAI's place (a final ``choices: []`` chunk), only when
the client asked for it: some upstreams (G4F) put usage on their finish chunk.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from providers.upstream.native import NativeAnswer

from .attempts import Served

Chunk = dict[str, Any]

_UNSAFE = re.compile(r"[^\x21-\x7e]")


def header_safe(value: object) -> str | None:
    """An upstream-chosen string fit for a response header: printable ASCII, 128 at most."""
    if not isinstance(value, str):
        return None
    return _UNSAFE.sub("", value)[:128] or None


@dataclass(frozen=True)
class Completion:
    """A whole (non-streamed) answer, and who served it."""

    body: dict[str, Any]
    served: Served
    #: The model the upstream says answered (an aggregator may swap it), header-safe.
    served_model: str | None = None
    #: Served in the client's own dialect: the upstream's bytes, relayed as they are.
    native: NativeAnswer | None = None


def completion_for_client(body: dict[str, Any], served: Served, asked: str) -> Completion:
    """``body`` as the client sees it: the model it asked for, the served model beside it."""
    served_model = header_safe(body.get("model"))
    return Completion({**body, "model": asked}, served, served_model)


def chunks_for_client(
    chunks: Iterable[Chunk], *, model: str, include_usage: bool
) -> Iterator[Chunk]:
    """Chunks that echo the client's model name and report usage once, when asked for.

    Usage on a chunk with choices is taken off it; a usage-only chunk passes (when asked
    for); otherwise a final usage chunk is made from the last usage seen.
    """
    usage: Any = None
    usage_sent = False
    last: Chunk = {}
    for chunk in chunks:
        chunk["model"] = model
        last = chunk
        if not chunk.get("choices") and chunk.get("usage"):
            if include_usage:
                usage_sent = True
                yield chunk
            continue
        if chunk.get("usage"):
            usage = chunk["usage"]
            chunk["usage"] = None
        yield chunk
    if include_usage and usage is not None and not usage_sent:
        yield {
            "id": last.get("id"),
            "object": "chat.completion.chunk",
            "created": last.get("created", int(time.time())),
            "model": model,
            "choices": [],
            "usage": usage,
        }
