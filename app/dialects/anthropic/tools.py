"""Anthropic tools and ``tool_choice`` as chat functions, and errors in Anthropic's words."""

from __future__ import annotations

from typing import Any

from app.errors import APIError
from app.errors import invalid as openai_invalid


def invalid(where: str, message: str) -> APIError:
    """A 400 worded as Anthropic words it: the path with dots, ``Input should be ...``."""
    path = where.replace("[", ".").replace("]", "")
    if message.startswith("must be "):
        message = "Input should be " + message.removeprefix("must be ")
    return openai_invalid(path, message)


def tools_of(tools: Any) -> list[dict[str, Any]]:
    """The client tools as chat functions; those with ``defer_loading`` are left out (the
    client loads them later through its own tool search)."""
    return [
        _tool(tool, f"tools[{i}]")
        for i, tool in enumerate(tools or ())
        if not (isinstance(tool, dict) and tool.get("defer_loading") is True)
    ]


def _tool(tool: dict[str, Any], where: str) -> dict[str, Any]:
    kind = tool.get("type")
    if kind not in (None, "custom"):
        raise invalid(
            f"{where}.type",
            f"the server tool {str(kind)[:64]!r} is not supported: keyrelay forwards "
            "client tools (name, description, input_schema) only",
        )
    if not isinstance(tool.get("name"), str) or not tool["name"]:
        raise invalid(f"{where}.name", "must be a non-empty string")
    schema = tool.get("input_schema")
    if not isinstance(schema, dict):
        raise invalid(f"{where}.input_schema", "must be a JSON schema object")
    function: dict[str, Any] = {"name": tool["name"], "parameters": schema}
    if isinstance(tool.get("description"), str):
        function["description"] = tool["description"]
    return {"type": "function", "function": function}


def tool_choice(choice: dict[str, Any] | None) -> dict[str, Any]:
    """``tool_choice`` in chat's terms (and ``parallel_tool_calls``)."""
    if not choice:
        return {}
    kind = choice.get("type")
    mapped: dict[str, Any] = {}
    if kind == "auto":
        mapped["tool_choice"] = "auto"
    elif kind == "any":
        mapped["tool_choice"] = "required"
    elif kind == "none":
        mapped["tool_choice"] = "none"
    elif kind == "tool" and isinstance(choice.get("name"), str):
        mapped["tool_choice"] = {"type": "function", "function": {"name": choice["name"]}}
    else:
        raise invalid("tool_choice", "must be auto, any, none, or tool with a name")
    if choice.get("disable_parallel_tool_use") is True:
        mapped["parallel_tool_calls"] = False
    return mapped
