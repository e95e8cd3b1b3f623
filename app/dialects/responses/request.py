"""OpenAI Responses requests (stateless), validated and translated into chat completions.

``instructions`` becomes a system message and ``input`` items messages
(``responses_items``); tools become chat functions (``responses_tools``). keyrelay keeps
no responses: ``previous_response_id`` and conversations are a 400 saying so (clients
such as Codex send the whole history each turn). ``store``, ``include``,
``reasoning.summary`` and ``client_metadata`` are read and dropped; ``prompt_cache_key``
and ``text.verbosity`` go only to providers that take them. A ``compaction_trigger``
item asks for a compaction: the upstream writes a summary, answered as one
``compaction`` item that a later request's ``input`` carries back.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from providers import OPTIONAL_HINT, REASONING_HINT, OptionalField

from app.dialects.base import streamed_with_usage
from app.dialects.responses.items import messages_of
from app.dialects.responses.tools import ToolSet, chat_tool_choice, tool_set
from app.errors import invalid

#: Request fields that need state keyrelay does not keep.
STATEFUL = ("previous_response_id", "conversation", "background", "prompt")
EFFORTS = ("minimal", "low", "medium", "high")
VERBOSITY = ("low", "medium", "high")
#: What the upstream is asked when a client compacts its session.
COMPACT_PROMPT = (
    "The conversation above is about to be compacted: its history will be replaced by what "
    "you write now. Write a summary that lets you carry on the task without it: the user's "
    "goal and instructions, what has been done so far (files, commands and their results), "
    "decisions made, and what remains to do. Reply with the summary only."
)


@dataclass
class ResponsesTurn:
    """A Responses request and its chat translation, with what the answer maps back to."""

    request: dict[str, Any]
    chat: dict[str, Any]
    tools: ToolSet
    #: The client asked for a compaction (a ``compaction_trigger`` item).
    compaction: bool = False
    #: Built-in tools and unreadable items left out of the translation.
    left_out: list[str] = field(default_factory=list)


def to_turn(body: dict[str, Any]) -> ResponsesTurn:
    """The chat completions request for an (already schema-valid) Responses request."""
    for name in STATEFUL:
        if body.get(name):
            raise invalid(
                name,
                "keyrelay is stateless: it keeps no responses or conversations. Send the "
                "whole conversation in 'input' instead.",
                code="unsupported_parameter",
            )
    tools = tool_set(body.get("tools"))
    turn = ResponsesTurn(body, {}, tools, compaction=_compacting(body["input"]))
    turn.left_out += tools.left_out
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages += messages_of(body["input"], tools, turn.left_out)
    if turn.compaction:
        messages.append({"role": "user", "content": COMPACT_PROMPT})
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if not turn.compaction:
        _add_tools(chat, body, tools)
    chat.update(_format((body.get("text") or {}).get("format")))
    _add_hints(chat, body)
    if body.get("stream"):
        streamed_with_usage(chat)
    turn.chat = chat
    return turn


def _compacting(given: Any) -> bool:
    if not isinstance(given, list):
        return False
    return any(type(item) is dict and item.get("type") == "compaction_trigger" for item in given)


def _add_tools(chat: dict[str, Any], body: dict[str, Any], tools: ToolSet) -> None:
    if tools.functions:
        chat["tools"] = tools.functions
        if body.get("parallel_tool_calls") is not None:
            chat["parallel_tool_calls"] = body["parallel_tool_calls"]
    if body.get("tool_choice") is not None:
        choice = chat_tool_choice(body["tool_choice"], tools)
        if tools.functions or choice == "none":
            chat["tool_choice"] = choice


def _add_hints(chat: dict[str, Any], body: dict[str, Any]) -> None:
    effort = (body.get("reasoning") or {}).get("effort")
    if isinstance(effort, str) and effort in EFFORTS:
        chat[REASONING_HINT] = effort
    optional: dict[str, Any] = {}
    key = body.get("prompt_cache_key")
    if isinstance(key, str) and key:
        optional[OptionalField.PROMPT_CACHE_KEY] = key[:256]
    verbosity = (body.get("text") or {}).get("verbosity")
    if verbosity in VERBOSITY:
        optional[OptionalField.VERBOSITY] = verbosity
    if optional:
        chat[OPTIONAL_HINT] = optional


def _format(given: Any) -> dict[str, Any]:
    if not given or not isinstance(given, dict) or given.get("type") == "text":
        return {}
    if given.get("type") == "json_object":
        return {"response_format": {"type": "json_object"}}
    if given.get("type") == "json_schema" and isinstance(given.get("schema"), dict):
        schema = {k: given[k] for k in ("name", "schema", "strict", "description") if k in given}
        schema.setdefault("name", "response")
        return {"response_format": {"type": "json_schema", "json_schema": schema}}
    raise invalid("text.format", "must be text, json_object, or json_schema with a schema")
