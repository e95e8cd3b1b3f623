"""Chat completion chunks as the Anthropic Messages event sequence (an ``Encoder``).

Streamed blocks are strictly one after another: text and thinking as they arrive;
tool calls, which upstreams may interleave, gathered and sent whole once the upstream
has finished, each as one ``tool_use`` block. The events begin only once the stream is
committed; a failure after that ends them with an ``error`` event and no ``message_stop``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from providers import StreamInterrupted

from app.dialects.anthropic.answer import (
    message_id,
    stop_of,
    tool_use_id,
    usage_of,
)
from app.dialects.anthropic.errors import error_type_for
from app.dialects.base import reasoning_of
from app.dialects.streaming import Kept, event_bytes


class MessageEvents:
    """Turns chat completion chunks into the Messages event sequence (an ``Encoder``)."""

    def __init__(self, model: str, stops: list[str], thinking: bool, limit: int) -> None:
        self.model, self.stops, self.thinking = model, stops, thinking
        #: Tool calls that cannot stream (interleaved with another) are gathered: bounded.
        self.kept = Kept(limit)
        self.index = -1
        self.open: str | None = None  # the kind of the block being streamed
        self.calls: dict[int, dict[str, str]] = {}
        #: The tool calls streamed as they come (each fragment one ``input_json_delta``).
        self.streamed: dict[int, int] = {}  # position -> its block's index
        self.finish: Any = None
        self.choice: dict[str, Any] = {}
        self.usage: Any = None
        self.id = message_id(None)

    def start(self) -> Iterator[bytes]:
        """``message_start`` (sent at the commit point) and a ``ping``."""
        message: dict[str, Any] = {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {"input_tokens": 0, "output_tokens": 0},
        }
        yield event_bytes("message_start", {"type": "message_start", "message": message})
        yield event_bytes("ping", {"type": "ping"})

    def feed(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        """The events one chunk adds."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            reasoning = reasoning_of(delta)
            if reasoning and self.thinking:
                yield from self._block("thinking", {"thinking": "", "signature": ""})
                yield self._delta({"type": "thinking_delta", "thinking": reasoning})
            text = delta.get("content")
            if isinstance(text, str) and text:
                yield from self._block("text", {"text": ""})
                yield self._delta({"type": "text_delta", "text": text})
            for call in delta.get("tool_calls") or []:
                yield from self._tool_fragment(call)
            if choice.get("finish_reason"):
                self.finish, self.choice = choice["finish_reason"], choice

    def finish_events(self) -> Iterator[bytes]:
        """Close the open block, send the tool calls, the stop reason, usage, and the end."""
        yield from self._close()
        for position in sorted(set(self.calls) - set(self.streamed)):
            call = self.calls[position]
            block = {"type": "tool_use", "id": call["id"], "name": call["name"], "input": {}}
            yield from self._block("tool_use", block)
            if call["arguments"]:
                partial = {"type": "input_json_delta", "partial_json": call["arguments"]}
                yield self._delta(partial)
            yield from self._close()
        calls = bool(self.calls or self.streamed)
        reason, sequence = stop_of(self.finish, self.choice, self.stops, calls)
        delta = {"stop_reason": reason, "stop_sequence": sequence}
        usage = usage_of(self.usage)
        yield event_bytes(
            "message_delta", {"type": "message_delta", "delta": delta, "usage": usage}
        )
        yield event_bytes("message_stop", {"type": "message_stop"})

    def failed(self, exc: StreamInterrupted) -> Iterator[bytes]:
        """The stream broke after the commit point: an ``error`` event, and nothing after."""
        error = {"type": error_type_for(exc.status), "message": exc.message}
        yield event_bytes("error", {"type": "error", "error": error})

    def _tool_fragment(self, call: dict[str, Any]) -> Iterator[bytes]:
        """One upstream fragment of a tool call: one ``input_json_delta`` as it comes. A call
        whose first fragment has no name yet is gathered and sent whole at the end."""
        position = call.get("index", 0) if isinstance(call.get("index"), int) else 0
        function = call.get("function") or {}
        arguments = function.get("arguments") if isinstance(function.get("arguments"), str) else ""
        if position in self.streamed:
            if arguments:  # (to its own block, should another have opened meanwhile)
                delta = {"type": "input_json_delta", "partial_json": arguments}
                payload = {"type": "content_block_delta", "index": self.streamed[position]}
                yield event_bytes("content_block_delta", {**payload, "delta": delta})
            return
        name = function.get("name")
        fresh = position not in self.calls and position not in self.streamed
        if fresh and isinstance(name, str) and name:
            block = {"type": "tool_use", "id": tool_use_id(call.get("id")), "name": name}
            yield from self._block("tool_use", {**block, "input": {}})
            self.streamed[position] = self.index
            if arguments:
                yield self._delta({"type": "input_json_delta", "partial_json": arguments})
            return
        self._gather(call)

    def _gather(self, call: dict[str, Any]) -> None:
        position = call.get("index", 0) if isinstance(call.get("index"), int) else 0
        found = self.calls.setdefault(position, {"id": "", "name": "", "arguments": ""})
        function = call.get("function") or {}
        if call.get("id") and not found["id"]:
            found["id"] = tool_use_id(call["id"])
        if isinstance(function.get("name"), str) and function["name"]:
            found["name"] = found["name"] or function["name"]
        if isinstance(function.get("arguments"), str):
            self.kept.add(function["arguments"])
            found["arguments"] += function["arguments"]
        if not found["id"]:
            found["id"] = tool_use_id(None)

    def _block(self, kind: str, fields: dict[str, Any]) -> Iterator[bytes]:
        if self.open == kind and kind != "tool_use":
            return
        yield from self._close()
        self.index += 1
        self.open = kind
        start = {"type": "content_block_start", "index": self.index, "content_block": fields}
        if kind != "tool_use":
            start["content_block"] = {"type": kind, **fields}
        yield event_bytes("content_block_start", start)

    def _delta(self, delta: dict[str, Any]) -> bytes:
        payload = {"type": "content_block_delta", "index": self.index, "delta": delta}
        return event_bytes("content_block_delta", payload)

    def _close(self) -> Iterator[bytes]:
        if self.open is not None:
            self.open = None
            stop = {"type": "content_block_stop", "index": self.index}
            yield event_bytes("content_block_stop", stop)
