"""Chat completions, the internal shape itself: validated, then sent as it is."""

from __future__ import annotations

from typing import Any

from providers import WireDialect

from app.dialects.base import Translated
from app.dialects.chat.schema import chat_schema
from app.errors import OpenAIErrors


class ChatDialect:
    """``POST /v1/chat/completions``: the answer and the chunks are the upstream's."""

    schema = chat_schema
    errors = OpenAIErrors()
    #: Chat completions is the internal shape: every candidate takes it as it is.
    native: WireDialect | None = None

    def translate(self, body: dict[str, Any], limit: int) -> Translated:
        """The request as it is; usage in the stream only when the client asked."""
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return Translated(body, include_usage)


CHAT = ChatDialect()
