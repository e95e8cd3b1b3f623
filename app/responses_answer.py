"""Chat completions answers in OpenAI Responses terms: a whole ``response``, or its events.

Every event carries its ``type`` and a ``sequence_number`` counted from 0; every item
opened is closed (``*.done`` and ``response.output_item.done``), also when the
upstream never sent a finish reason; the stream ends with exactly one of
``response.completed`` / ``response.incomplete`` carrying the whole ``output``, or,
if it broke after the commit point, ``response.failed``, and nothing after it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

from providers import StreamInterrupted

from .streaming import event_bytes, whole_number

#: Finish reasons that cut an answer short, and how Responses names the cut.
INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def new_id(prefix: str) -> str:
    """An item or response id: ``prefix_`` and 24 hex digits."""
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def usage_of(usage: Any) -> dict[str, Any]:
    """Responses usage from an OpenAI chat ``usage`` object (zeros when there was none)."""
    usage = usage if isinstance(usage, dict) else {}
    prompt, completion = (
        whole_number(usage.get("prompt_tokens")),
        whole_number(usage.get("completion_tokens")),
    )
    cached = whole_number((usage.get("prompt_tokens_details") or {}).get("cached_tokens"))
    reasoning = whole_number((usage.get("completion_tokens_details") or {}).get("reasoning_tokens"))
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": cached, "cache_write_tokens": 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": whole_number(usage.get("total_tokens")) or prompt + completion,
    }


def envelope(request: dict[str, Any], model: str, response_id: str) -> dict[str, Any]:
    """The ``response`` object before any output: the request's settings echoed."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": int(time.time()),
        "status": "in_progress",
        "model": model,
        "output": [],
        "usage": None,
        "error": None,
        "incomplete_details": None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "metadata": request.get("metadata") or {},
        "parallel_tool_calls": request.get("parallel_tool_calls", True) is not False,
        "previous_response_id": None,
        "reasoning": request.get("reasoning"),
        "store": False,
        "temperature": request.get("temperature"),
        "text": request.get("text") or {"format": {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": request.get("tools") or [],
        "top_p": request.get("top_p"),
        "truncation": "disabled",
    }


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    """An assistant ``message`` output item with one ``output_text`` part."""
    content = [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {
        "id": item_id,
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": content if status == "completed" else [],
    }


def call_item(item_id: str, call: dict[str, str], status: str = "completed") -> dict[str, Any]:
    """A ``function_call`` output item."""
    return {
        "id": item_id,
        "type": "function_call",
        "status": status,
        "call_id": call["call_id"],
        "name": call["name"],
        "arguments": call["arguments"],
    }


def finished(response: dict[str, Any], finish: Any, usage: Any) -> dict[str, Any]:
    """``response`` completed, or incomplete when the upstream cut the answer short."""
    cut = INCOMPLETE.get(str(finish))
    return {
        **response,
        "status": "incomplete" if cut else "completed",
        "incomplete_details": {"reason": cut} if cut else None,
        "usage": usage_of(usage),
        "completed_at": int(time.time()),
    }


def to_response(completion: dict[str, Any], request: dict[str, Any], model: str) -> dict[str, Any]:
    """A whole chat completion as a ``response``."""
    choice = (completion.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    output: list[dict[str, Any]] = []
    if isinstance(message.get("content"), str) and message["content"]:
        output.append(message_item(new_id("msg"), message["content"]))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {} if isinstance(call, dict) else {}
        fields = {
            "call_id": str(call.get("id") or new_id("call")),
            "name": str(function.get("name") or ""),
            "arguments": str(function.get("arguments") or ""),
        }
        output.append(call_item(new_id("fc"), fields))
    response = {**envelope(request, model, new_id("resp")), "output": output}
    return finished(response, choice.get("finish_reason"), completion.get("usage"))


class ResponseEvents:
    """Turns chat completion chunks into the Responses event sequence (an ``Encoder``)."""

    def __init__(self, request: dict[str, Any], model: str) -> None:
        self.response = envelope(request, model, new_id("resp"))
        self.sequence = 0
        self.output: list[dict[str, Any]] = []  # items in output order, open ones included
        self.text: dict[str, Any] | None = None  # the open message item
        self.calls: dict[int, dict[str, Any]] = {}  # open function calls by chat index
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
            if isinstance(delta.get("content"), str) and delta["content"]:
                yield from self._text(delta["content"])
            for call in delta.get("tool_calls") or []:
                if isinstance(call, dict):
                    yield from self._call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def finish_events(self) -> Iterator[bytes]:
        """Close every open item, then ``response.completed`` or ``response.incomplete``."""
        yield from self._close_text()
        for index in sorted(self.calls):
            yield from self._close_call(index)
        done = finished({**self.response, "output": self.output}, self.finish, self.usage)
        kind = "response.completed" if done["status"] == "completed" else "response.incomplete"
        yield self._event(kind, response=done)

    def failed(self, exc: StreamInterrupted) -> Iterator[bytes]:
        """``response.failed`` with the error, and nothing after it."""
        error = {"code": "server_error", "message": exc.message}
        failed = {**self.response, "status": "failed", "error": error, "output": self.output}
        yield self._event("response.failed", response=failed)

    def _text(self, text: str) -> Iterator[bytes]:
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

    def _call(self, call: dict[str, Any]) -> Iterator[bytes]:
        position = call["index"] if isinstance(call.get("index"), int) else 0
        function = call.get("function") or {}
        opened = self.calls.get(position)
        if opened is None:
            yield from self._close_text()
            fields = {
                "call_id": str(call.get("id") or new_id("call")),
                "name": str(function.get("name") or ""),
                "arguments": "",
            }
            opened = {"id": new_id("fc"), "index": len(self.output), **fields}
            self.calls[position] = opened
            item = call_item(opened["id"], fields, status="in_progress")
            self.output.append(item)
            yield self._event("response.output_item.added", output_index=opened["index"], item=item)
        elif not opened["name"] and function.get("name"):
            opened["name"] = str(function["name"])
        piece = function.get("arguments")
        if isinstance(piece, str) and piece:
            opened["arguments"] += piece
            yield self._event(
                "response.function_call_arguments.delta",
                item_id=opened["id"],
                output_index=opened["index"],
                delta=piece,
            )

    def _close_call(self, position: int) -> Iterator[bytes]:
        opened = self.calls.pop(position)
        yield self._event(
            "response.function_call_arguments.done",
            item_id=opened["id"],
            output_index=opened["index"],
            name=opened["name"],
            arguments=opened["arguments"],
        )
        item = call_item(opened["id"], opened)
        self.output[opened["index"]] = item
        yield self._event("response.output_item.done", output_index=opened["index"], item=item)
