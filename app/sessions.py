"""Which session a request is a turn of: an identity for session affinity, never in clear.

The first that is present of ``X-Session-ID``, the headers agents send
(``X-Claude-Code-Session-Id``, Codex's ``session-id`` and ``thread-id``), the body's
``prompt_cache_key``, and otherwise, for a conversation past its first turn (it carries
an answer of the assistant), a digest of its stable prefix (its system text, its tools
and its first user turn): a first turn by itself is no session, so that many one-shot
requests alike still spread over the keys. The result is a digest of that, the
client key's fingerprint and the model, so that one client can never steer another's
session, and a session's turns for another model (a small, fast one) are their own.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from flask import request
from providers import dumps_json, fingerprint

from app.auth import presented_key
from app.gateway import gateway

#: Where clients name their session, first found first.
SESSION_HEADERS = ("X-Session-ID", "X-Claude-Code-Session-Id", "session-id", "thread-id")
#: The most of a client's session id that counts.
MAX_SESSION_ID = 256
#: The most of a stable prefix that is hashed (the rest of a long system prompt adds nothing).
MAX_PREFIX_BYTES = 64 * 1024


def session_of(body: Mapping[str, Any]) -> str | None:
    """The session ``body`` is a turn of, as a digest scoped by client key and model (None
    with ``SESSION_AFFINITY=false``: nothing would read it)."""
    if not gateway().router.config.session_affinity:
        return None
    named = next((v for h in SESSION_HEADERS if (v := request.headers.get(h, "").strip())), "")
    cache_key = body.get("prompt_cache_key")
    if named:
        source = b"header\0" + named[:MAX_SESSION_ID].encode()
    elif isinstance(cache_key, str) and cache_key:
        source = b"cache_key\0" + cache_key[:MAX_SESSION_ID].encode()
    else:
        prefix = stable_prefix(body)
        if prefix is None:
            return None
        source = b"prefix\0" + prefix
    scope = f"{fingerprint(presented_key() or '')}\0{body.get('model')}\0".encode()
    return hashlib.sha256(scope + source).hexdigest()[:32]


def stable_prefix(body: Mapping[str, Any]) -> bytes | None:
    """What stays the same on every turn of a conversation past its first: system text,
    tools and the first user turn (chat ``messages``, Messages ``system``, Responses
    ``instructions``/``input``); None for a first turn."""
    turns = body.get("messages") if isinstance(body.get("messages"), list) else body.get("input")
    first = _first_turn(turns)
    if first is None or not _answered(turns):
        return None
    parts = [body.get("system"), body.get("instructions"), body.get("tools"), first]
    try:
        text = dumps_json(parts, sort_keys=True, default=str)
    except (TypeError, ValueError, RecursionError):
        return None
    return text[:MAX_PREFIX_BYTES]


def _answered(turns: Any) -> bool:
    """True when the conversation holds an assistant turn (or a Responses output item)."""
    if not isinstance(turns, list):
        return False
    return any(
        isinstance(t, Mapping) and (t.get("role") == "assistant" or t.get("type") in ANSWER_ITEMS)
        for t in turns
    )


#: Responses items only an answer holds.
ANSWER_ITEMS = frozenset({"function_call", "custom_tool_call", "reasoning", "compaction"})


def _first_turn(turns: Any) -> Any:
    """The turns up to and including the first user turn."""
    if not isinstance(turns, list):
        return None
    for index, turn in enumerate(turns[:64]):
        if isinstance(turn, Mapping) and turn.get("role") == "user":
            return turns[: index + 1]
    return None
