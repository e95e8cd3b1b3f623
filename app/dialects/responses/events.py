"""Chat completion chunks as the OpenAI Responses event sequence (an ``Encoder``).

Every event carries its ``type`` and a ``sequence_number`` counted from 0; every item
opened is closed (``*.done`` and ``response.output_item.done``), also when the
upstream never sent a finish reason; a compaction's summary is kept back and sent as one
``compaction`` item at the end; the stream ends with exactly one of
``response.completed`` / ``response.incomplete`` carrying the whole ``output``, or,
if it broke after the commit point, ``response.failed``, and nothing after it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from providers import StreamInterrupted

from app.dialects.base import reasoning_of
from app.dialects.responses.answer import (
    compaction_item,
    envelope,
    finished,
    message_item,
    new_id,
    reasoning_item,
)
from app.dialects.responses.calls import OpenCall
from app.dialects.responses.request import ResponsesTurn
from app.dialects.responses.tools import ToolKind
from app.dialects.streaming import Kept, event_bytes


class ResponseEvents:
    """Turns chat completion chunks into the Responses event sequence (an ``Encoder``)."""

    def __init__(self, turn: ResponsesTurn, model: str, limit: int) -> None:
        #: The whole output is repeated at the end: bounded.
        self.kept = Kept(limit)
        self.turn = turn
        self.summary: list[str] = []  # a compaction's text, sent whole at the end
        self.response = envelope(turn.request, model, new_id("resp"))
        self.sequence = 0
        self.output: list[dict[str, Any]] = []  # items in output order, open ones included
        self.text: dict[str, Any] | None = None  # the open message item
        self.thought: dict[str, Any] | None = None  # the open reasoning item
        self.calls: dict[int, OpenCall] = {}  # open tool calls by chat index
        self.finish: Any = None
        self.usage: Any = None

    def _event(self, kind: str, **fields: Any) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return event_bytes(kind, payload)

    def start(self) -> Iterator[bytes]:
        """``response.created`` and ``response.in_progress``."""
        yield self._event("response.created", response=self.response)
        yield self._event("response.in_progress", response=self.response)

    def feed(self, chunk: dict[str, Any]) -> Iterator[bytes]:
        """The events one chunk adds."""
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if self.turn.compaction:
                self._summary_piece(delta.get("content"))
                self.finish = choice.get("finish_reason") or self.finish
                continue
            if reasoning_of(delta):
                yield from self._reasoning(reasoning_of(delta))
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield from self._text(delta["content"])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    yield from self._call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def finish_events(self) -> Iterator[bytes]:
        """Close every open item, then ``response.completed`` or ``response.incomplete``."""
        yield from self._close_reasoning()
        yield from self._close_text()
        for index in sorted(self.calls):
            yield from self._close_call(index)
        if self.turn.compaction:
            item = compaction_item(new_id("cmp"), "".join(self.summary))
            self.output.append(item)
            at = len(self.output) - 1
            yield self._event("response.output_item.added", output_index=at, item=item)
            yield self._event("response.output_item.done", output_index=at, item=item)
        done = finished({**self.response, "output": self.output}, self.finish, self.usage)
        kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
        yield self._event(kind, response=done)

    def failed(self, exc: StreamInterrupted) -> Iterator[bytes]:
        """``response.failed`` with the error, and nothing after it."""
        error = {"code": "server_error", "message": exc.message}
        failed = {**self.response, "status": "failed", "error": error, "output": self.output}
        yield self._event("response.failed", response=failed)

    def _reasoning(self, text: str) -> Iterator[bytes]:
        if self.thought is None:
            self.thought = {"id": new_id("rs"), "index": len(self.output), "text": ""}
            item = reasoning_item(self.thought["id"], "")
            self.output.append(item)
            yield self._event(
                "response.output_item.added", output_index=self.thought["index"], item=item
            )
            yield self._event(
                "response.reasoning_summary_part.added",
                **self._summary_at(self.thought),
                part={"type": "summary_text", "text": ""},
            )
        self.kept.add(text)
        self.thought["text"] += text
        where = self._summary_at(self.thought)
        yield self._event("response.reasoning_summary_text.delta", **where, delta=text)

    def _summary_at(self, opened: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": opened["id"], "output_index": opened["index"], "summary_index": 0}

    def _close_reasoning(self) -> Iterator[bytes]:
        if self.thought is None:
            return
        opened, self.thought = self.thought, None
        where, text = self._summary_at(opened), opened["text"]
        yield self._event("response.reasoning_summary_text.done", **where, text=text)
        part = {"type": "summary_text", "text": text}
        yield self._event("response.reasoning_summary_part.done", **where, part=part)
        item = reasoning_item(opened["id"], text)
        self.output[opened["index"]] = item
        yield self._event("response.output_item.done", output_index=opened["index"], item=item)

    def _text(self, text: str) -> Iterator[bytes]:
        yield from self._close_reasoning()
        if self.text is None:
            self.text = {"id": new_id("msg"), "index": len(self.output), "text": ""}
            item = message_item(self.text["id"], "", status="in_progress")
            self.output.append(item)
            yield self._event(
                "response.output_item.added", output_index=self.text["index"], item=item
            )
            yield self._event(
                "response.content_part.added",
                **self._at(self.text),
                part={"type": "output_text", "text": "", "annotations": [], "logprobs": []},
            )
        self.kept.add(text)
        self.text["text"] += text
        yield self._event(
            "response.output_text.delta", **self._at(self.text), delta=text, logprobs=[]
        )

    def _at(self, open_item: dict[str, Any]) -> dict[str, Any]:
        return {"item_id": open_item["id"], "output_index": open_item["index"], "content_index": 0}

    def _close_text(self) -> Iterator[bytes]:
        if self.text is None:
            return
        opened, self.text = self.text, None
        where, text = self._at(opened), opened["text"]
        yield self._event("response.output_text.done", **where, text=text, logprobs=[])
        part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
        yield self._event("response.content_part.done", **where, part=part)
        item = message_item(opened["id"], text)
        self.output[opened["index"]] = item
        yield self._event("response.output_item.done", output_index=opened["index"], item=item)

    def _summary_piece(self, text: Any) -> None:
        if isinstance(text, str) and text:
            self.kept.add(text)
            self.summary.append(text)

    def _call(self, call: dict[str, Any]) -> Iterator[bytes]:
        position = call["index"] if isinstance(call.get("index"), int) else 0
        given = call.get("function")
        function: dict[str, Any] = given if isinstance(given, dict) else {}
        opened = self.calls.get(position)
        if opened is None:
            yield from self._close_reasoning()
            yield from self._close_text()
            chat_name = str(function.get("name") or "")
            ref = self.turn.tools.ref(chat_name)
            item_id = new_id("ctc" if ref.kind is ToolKind.CUSTOM else "fc")
            call_id = str(call.get("id") or new_id("call"))
            opened = OpenCall(item_id, len(self.output), call_id, chat_name, ref)
            self.calls[position] = opened
            item = opened.item(status="in_progress")
            self.output.append(item)
            yield self._event("response.output_item.added", output_index=opened.index, item=item)
        elif not opened.chat_name and function.get("name"):
            opened.chat_name = str(function["name"])  # a name in a later fragment
            opened.ref = self.turn.tools.ref(opened.chat_name)
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            self.kept.add(piece)
            kind, text = opened.delta(piece)
            if text:
                at = {"item_id": opened.item_id, "output_index": opened.index}
                yield self._event(kind, **at, delta=text)

    def _close_call(self, position: int) -> Iterator[bytes]:
        opened = self.calls.pop(position)
        at = {"item_id": opened.item_id, "output_index": opened.index}
        item = opened.item()
        if opened.ref.kind is ToolKind.CUSTOM:
            rest = opened.rest()
            if rest:
                yield self._event("response.custom_tool_call_input.delta", **at, delta=rest)
            yield self._event("response.custom_tool_call_input.done", **at, input=item["input"])
        else:
            yield self._event(
                "response.function_call_arguments.done",
                **at,
                name=opened.ref.name,
                arguments=opened.arguments,
            )
        self.output[opened.index] = item
        yield self._event("response.output_item.done", output_index=opened.index, item=item)
