"""Responses tools as chat functions, and the names to map the calls back.

* ``function`` tools pass as they are.
* ``namespace`` tools (Codex's ``multi_agent_v1``) are flattened: each inner function
  becomes ``<namespace>__<name>``, made to fit ``^[a-zA-Z0-9_-]{1,64}$`` and unique; a
  call comes back as a ``function_call`` with the inner ``name`` and its ``namespace``.
* ``custom`` (freeform) tools become a function with one string argument, ``input``;
  a call comes back as a ``custom_tool_call`` whose ``input`` is that string.
* Built-in tools (``web_search``, ``tool_search``, ...) run at OpenAI, not at a chat
  upstream: they are left out and named in the ``X-Keyrelay-Tools-Left-Out`` header,
  unless ``tool_choice`` requires one (a 400 naming it).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from app.errors import invalid

#: What chat upstreams accept as a function name.
NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_NAME = 64
#: The tool types a chat upstream can be given (the rest are built-ins).
CLIENT_TYPES = ("function", "custom", "namespace")
#: A grammar longer than this is not copied into the description.
MAX_GRAMMAR = 4000
FREEFORM_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's raw input text."}},
    "required": ["input"],
    "additionalProperties": False,
}


class ToolKind(StrEnum):
    """How a chat function maps back to the client's tool."""

    FUNCTION = "function"
    CUSTOM = "custom"


@dataclass(frozen=True)
class ToolRef:
    """The client's tool behind one chat function name."""

    kind: ToolKind
    name: str
    namespace: str | None = None


@dataclass
class ToolSet:
    """The chat functions of one request, and what each stands for."""

    functions: list[dict[str, Any]] = field(default_factory=list)
    refs: dict[str, ToolRef] = field(default_factory=dict)
    #: Built-in tool types left out of the request, in order, once each.
    left_out: list[str] = field(default_factory=list)

    def ref(self, chat_name: str) -> ToolRef:
        """The client's tool for a chat function name (itself, if keyrelay did not rename it)."""
        return self.refs.get(chat_name) or ToolRef(ToolKind.FUNCTION, chat_name)

    def chat_name(self, name: str, namespace: Any = None) -> str:
        """The chat name of a client's tool (for calls replayed in ``input``)."""
        for chat_name, ref in self.refs.items():
            if ref.name == name and ref.namespace == (namespace or None):
                return chat_name
        return flat_name(namespace, name) if isinstance(namespace, str) and namespace else name

    def add(self, ref: ToolRef, function: dict[str, Any]) -> None:
        """Offer ``function`` for ``ref``, renamed with a number if the name is taken."""
        wanted = function["name"]
        chosen, n = wanted, 2
        while chosen in self.refs:
            suffix = f"_{n}"
            chosen, n = wanted[: MAX_NAME - len(suffix)] + suffix, n + 1
        self.refs[chosen] = ref
        self.functions.append({"type": "function", "function": {**function, "name": chosen}})


def flat_name(namespace: str | None, name: str) -> str:
    """``<namespace>__<name>`` in the characters and length chat upstreams accept."""
    joined = f"{namespace}__{name}" if namespace else name
    clean = re.sub(r"[^a-zA-Z0-9_-]", "_", joined) or "tool"
    if len(clean) <= MAX_NAME:
        return clean
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{clean[: MAX_NAME - 9]}_{digest}"


def tool_set(tools: Any) -> ToolSet:
    """The chat functions for a request's ``tools`` (validated here, 400 when malformed)."""
    found = ToolSet()
    for index, tool in enumerate(tools or ()):
        where = f"tools[{index}]"
        if not isinstance(tool, dict) or not isinstance(tool.get("type"), str):
            raise invalid(f"{where}.type", "must be an object with a string type")
        kind = tool["type"]
        if kind == "namespace":
            _namespace(found, tool, where)
        elif kind in CLIENT_TYPES:
            _one(found, tool, where, None)
        elif kind[:64] not in found.left_out:
            found.left_out.append(kind[:64])
    return found


def _namespace(found: ToolSet, tool: dict[str, Any], where: str) -> None:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.name", "must be a non-empty string")
    inner = tool.get("tools")
    if not isinstance(inner, list) or not inner:
        raise invalid(f"{where}.tools", "must be a non-empty list of function tools")
    for index, each in enumerate(inner):
        here = f"{where}.tools[{index}]"
        if not isinstance(each, dict) or each.get("type") not in ("function", "custom"):
            raise invalid(f"{here}.type", "must be function or custom inside a namespace")
        _one(found, each, here, name)


def _one(found: ToolSet, tool: dict[str, Any], where: str, namespace: str | None) -> None:
    name = tool.get("name")
    if not isinstance(name, str) or not name:
        raise invalid(f"{where}.name", "must be a non-empty string")
    chat = flat_name(namespace, name) if namespace or not NAME.match(name) else name
    function: dict[str, Any] = {"name": chat}
    if tool["type"] == "custom":
        function["description"] = _freeform_description(tool)
        function["parameters"] = FREEFORM_PARAMETERS
        found.add(ToolRef(ToolKind.CUSTOM, name, namespace), function)
        return
    for key in ("description", "parameters", "strict"):
        if tool.get(key) is not None:
            function[key] = tool[key]
    found.add(ToolRef(ToolKind.FUNCTION, name, namespace), function)


def _freeform_description(tool: dict[str, Any]) -> str:
    described = tool.get("description")
    text = described if isinstance(described, str) else ""
    text += "\n\nPut the tool's whole raw input, as plain text, in the `input` argument."
    given = tool.get("format")
    grammar: dict[str, Any] = given if isinstance(given, dict) else {}
    definition = grammar.get("definition")
    if isinstance(definition, str) and len(definition) <= MAX_GRAMMAR:
        syntax = str(grammar.get("syntax") or "grammar")[:32]
        text += f" The input must match this {syntax} grammar:\n{definition}"
    return text.strip()


def chat_tool_choice(choice: Any, tools: ToolSet) -> Any:
    """``tool_choice`` in chat's terms; a built-in one is a 400 naming it."""
    if choice in ("auto", "none", "required"):
        return choice
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind in ("function", "custom") and isinstance(choice.get("name"), str) and choice["name"]:
        name = tools.chat_name(choice["name"], choice.get("namespace"))
        return {"type": "function", "function": {"name": name}}
    if kind == "allowed_tools" and choice.get("mode") in ("auto", "required"):
        return choice["mode"]
    if isinstance(kind, str) and kind not in CLIENT_TYPES:
        raise invalid(
            "tool_choice.type",
            f"the built-in tool {kind[:64]!r} runs only at OpenAI, and tool_choice requires it",
            code="unsupported_tool",
        )
    raise invalid("tool_choice", "must be auto, none, required, or a function by name")


def call_input(arguments: str) -> str:
    """A freeform tool's input from the chat call's arguments (``{"input": "..."}``), or
    the arguments themselves when the model wrote plain text."""
    try:
        parsed = json.loads(arguments)
    except ValueError:
        return arguments
    text = parsed.get("input") if isinstance(parsed, dict) else None
    return text if isinstance(text, str) else arguments
