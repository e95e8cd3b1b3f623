"""OpenAI Responses requests (stateless), validated and translated into chat completions.

``instructions`` becomes a system message, ``input`` items become messages
(``function_call`` items assistant ``tool_calls``, consecutive ones merged;
``function_call_output`` items ``role: "tool"`` messages; reasoning items dropped).
keyrelay keeps no responses: ``previous_response_id`` and conversations are a 400
saying so (clients such as Codex send the whole history each turn), and so are
OpenAI's built-in tools, which only OpenAI runs.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, fields
from marshmallow.validate import Length, Range
from providers import MAX_MODEL_NAME, REASONING_HINT

from .errors import invalid
from .schemas import StrictBoolean, StrictFloat, StrictInteger
from .serve import streamed_with_usage

#: Request fields that need state keyrelay does not keep.
STATEFUL = ("previous_response_id", "conversation", "background", "prompt")


class ResponsesSchema(Schema):
    """``POST /v1/responses``: the top level (items are checked while translating)."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=Length(min=1, max=MAX_MODEL_NAME))
    input = fields.Raw(required=True)
    instructions = fields.String(allow_none=True)
    max_output_tokens = StrictInteger(allow_none=True, validate=Range(min=1))
    temperature = StrictFloat(allow_none=True, validate=Range(0, 2))
    top_p = StrictFloat(allow_none=True, validate=Range(0, 1))
    stream = StrictBoolean(allow_none=True)
    parallel_tool_calls = StrictBoolean(allow_none=True)
    tools = fields.List(fields.Dict(), allow_none=True)
    tool_choice = fields.Raw(allow_none=True)
    text = fields.Dict(allow_none=True)
    reasoning = fields.Dict(allow_none=True)
    metadata = fields.Dict(allow_none=True)
    user = fields.String(allow_none=True)


responses_schema = ResponsesSchema()


def to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """The chat completions request for an (already schema-valid) Responses request."""
    for name in STATEFUL:
        if body.get(name):
            raise invalid(
                name,
                "keyrelay is stateless: it keeps no responses or conversations. Send the "
                "whole conversation in 'input' instead.",
                code="unsupported_parameter",
            )
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "system", "content": body["instructions"]})
    messages += _items(body["input"])
    chat: dict[str, Any] = {"model": body["model"], "messages": messages}
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    for name in ("temperature", "top_p", "parallel_tool_calls", "user"):
        if body.get(name) is not None:
            chat[name] = body[name]
    if body.get("tools"):
        chat["tools"] = [_tool(tool, f"tools[{i}]") for i, tool in enumerate(body["tools"])]
    if body.get("tool_choice") is not None:
        chat["tool_choice"] = _tool_choice(body["tool_choice"])
    chat.update(_format((body.get("text") or {}).get("format")))
    effort = (body.get("reasoning") or {}).get("effort")
    if isinstance(effort, str) and effort in ("minimal", "low", "medium", "high"):
        chat[REASONING_HINT] = effort
    if body.get("stream"):
        streamed_with_usage(chat)
    return chat


def _items(given: Any) -> list[dict[str, Any]]:
    if isinstance(given, str):
        return [{"role": "user", "content": given}]
    if not isinstance(given, list) or not given:
        raise invalid("input", "must be a string or a non-empty list of items")
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(given):
        where = f"input[{index}]"
        if not isinstance(item, dict):
            raise invalid(where, "must be an object")
        kind = item.get("type", "message")
        if kind == "message":
            messages.append(_message(item, where))
        elif kind == "function_call":
            _add_call(messages, item, where)
        elif kind == "function_call_output":
            messages.append(_call_output(item, where))
        elif kind == "reasoning":
            continue  # the upstream's own reasoning is not sent back to it
        elif kind == "item_reference":
            raise invalid(where, "keyrelay is stateless: send the item itself, not a reference")
        else:
            raise invalid(f"{where}.type", f"the item type {str(kind)[:64]!r} is not supported")
    return messages


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in ("user", "assistant", "system", "developer"):
        raise invalid(f"{where}.role", "must be user, assistant, system or developer")
    role = "system" if role == "developer" else role
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise invalid(f"{where}.content", "must be a string or a list of content parts")
    parts = [_part(part, f"{where}.content[{i}]") for i, part in enumerate(content)]
    if role != "user" or all(part["type"] == "text" for part in parts):
        text = "".join(part.get("text", "") for part in parts)
        return {"role": role, "content": text}
    return {"role": role, "content": parts}


def _part(part: Any, where: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "refusal" and isinstance(part.get("refusal"), str):
        return {"type": "text", "text": part["refusal"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str) or not url:
            raise invalid(f"{where}.image_url", "must be a URL or a data URI (file ids need state)")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    raise invalid(where, "must be an input_text, output_text or input_image part")


def _add_call(messages: list[dict[str, Any]], item: dict[str, Any], where: str) -> None:
    for name in ("call_id", "name"):
        if not isinstance(item.get(name), str) or not item[name]:
            raise invalid(f"{where}.{name}", "must be a non-empty string")
    arguments = item.get("arguments", "")
    if not isinstance(arguments, str):
        raise invalid(f"{where}.arguments", "must be a string of JSON")
    call = {
        "id": item["call_id"],
        "type": "function",
        "function": {"name": item["name"], "arguments": arguments},
    }
    last = messages[-1] if messages else None
    if last is not None and last["role"] == "assistant" and "tool_calls" in last:
        last["tool_calls"].append(call)  # consecutive calls: one assistant message
    elif last is not None and last["role"] == "assistant" and "tool_calls" not in last:
        last["tool_calls"] = [call]
    else:
        messages.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _call_output(item: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(item.get("call_id"), str) or not item["call_id"]:
        raise invalid(f"{where}.call_id", "must be a non-empty string")
    output = item.get("output", "")
    if isinstance(output, list):
        output = "".join(part.get("text", "") for part in output if isinstance(part, dict))
    if not isinstance(output, str):
        raise invalid(f"{where}.output", "must be a string or a list of content parts")
    return {"role": "tool", "tool_call_id": item["call_id"], "content": output}


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    if tool.get("type") != "function":
        raise invalid(
            f"{where}.type",
            f"the built-in tool {str(tool.get('type'))[:64]!r} is not supported: keyrelay "
            "forwards function tools only",
            code="unsupported_tool",
        )
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise invalid(f"{where}.name", "must be a non-empty string")
    function: dict[str, Any] = {"name": tool["name"]}
    for name in ("description", "parameters", "strict"):
        if tool.get(name) is not None:
            function[name] = tool[name]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    name = (
        choice.get("name")
        if isinstance(choice, dict) and choice.get("type") == "function"
        else None
    )
    if isinstance(name, str) and name:
        return {"type": "function", "function": {"name": name}}
    raise invalid("tool_choice", "must be auto, none, required, or a function by name")


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
