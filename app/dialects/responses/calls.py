"""Chat tool calls as Responses output items: ``function_call`` (with its ``namespace``
when keyrelay flattened one) or ``custom_tool_call``, whole or streamed.

A streamed freeform call's ``input`` is decoded from the chat arguments
(``{"input": "..."}``) as they arrive, so ``response.custom_tool_call_input.delta``
carries the text itself, fragment by fragment.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from app.dialects.responses.tools import ToolKind, ToolRef, call_input

#: How a freeform call's chat arguments start: ``{"input": "``.
OPENING = re.compile(r'\s*\{\s*"input"\s*:\s*"')
ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def call_item(
    item_id: str, call_id: str, ref: ToolRef, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    """The output item for one tool call."""
    if ref.kind is ToolKind.CUSTOM:
        item = {"id": item_id, "type": "custom_tool_call", "status": status, "call_id": call_id}
        return {**item, "name": ref.name, "input": call_input(arguments) if arguments else ""}
    item = {"id": item_id, "type": "function_call", "status": status, "call_id": call_id}
    item.update(name=ref.name, arguments=arguments)
    if ref.namespace:
        item["namespace"] = ref.namespace
    return item


@dataclass
class FreeformText:
    """Decodes the ``input`` string of ``{"input": "..."}`` while the JSON arrives."""

    raw: str = ""
    #: Where the string's next undecoded character is in ``raw`` (None: not found yet).
    at: int | None = None
    closed: bool = False
    #: The raw arguments do not start as ``{"input": "``: nothing is decoded early.
    opaque: bool = False

    def feed(self, piece: str) -> str:
        """The decoded text this piece completes (may be empty)."""
        self.raw += piece
        if self.opaque or self.closed:
            return ""
        if self.at is None:
            match = OPENING.match(self.raw)
            if match is None:
                self.opaque = not _could_open(self.raw)
                return ""
            self.at = match.end()
        return self._decode()

    def _decode(self) -> str:
        out: list[str] = []
        raw, i = self.raw, self.at or 0
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self.closed = True
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # the escape's second half is still to come
            if raw[i + 1] != "u":
                out.append(ESCAPES.get(raw[i + 1], raw[i + 1]))
                i += 2
                continue
            decoded, used = _unicode_escape(raw, i)
            if used == 0:
                break
            out.append(decoded)
            i += used
        self.at = i
        return "".join(out)


def _could_open(raw: str) -> bool:
    """Whether ``raw`` may still grow into ``{"input": "``."""
    text = re.sub(r"\s+", "", raw)
    return '{"input":"'.startswith(text)


def _unicode_escape(raw: str, i: int) -> tuple[str, int]:
    """A ``\\uXXXX`` escape (or surrogate pair) at ``i``: the text and the length used, or
    0 while incomplete."""
    if i + 6 > len(raw):
        return "", 0
    try:
        high = int(raw[i + 2 : i + 6], 16)
    except ValueError:
        return raw[i : i + 6], 6
    if 0xD800 <= high < 0xDC00:
        if i + 12 > len(raw):
            return "", 0
        pair = raw[i : i + 12]
        try:
            return json.loads(f'"{pair}"'), 12
        except ValueError:
            return chr(0xFFFD), 6
    return chr(high), 6


@dataclass
class OpenCall:
    """One tool call being streamed."""

    item_id: str
    index: int
    call_id: str
    chat_name: str
    ref: ToolRef
    arguments: str = ""
    freeform: FreeformText = field(default_factory=FreeformText)
    #: Input text already sent in deltas (freeform calls).
    sent: str = ""

    def item(self, status: str = "completed") -> dict[str, Any]:
        """The call's output item as it stands."""
        return call_item(self.item_id, self.call_id, self.ref, self.arguments, status)

    def delta(self, piece: str) -> tuple[str, str]:
        """The delta event kind and text for an arguments fragment ("" when none yet)."""
        self.arguments += piece
        if self.ref.kind is not ToolKind.CUSTOM:
            return "response.function_call_arguments.delta", piece
        text = self.freeform.feed(piece)
        self.sent += text
        return "response.custom_tool_call_input.delta", text

    def rest(self) -> str:
        """A freeform call's input not yet sent in deltas (all of it when it was opaque)."""
        whole = call_input(self.arguments) if self.arguments else ""
        return whole[len(self.sent) :] if whole.startswith(self.sent) else ""
