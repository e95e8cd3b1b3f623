"""Chat requests the schema always accepts, recognised without it.

Most requests are plain: known fields of the right type within OpenAI's ranges, and
messages of a role and a string. Checking that here costs a few microseconds; marshmallow
costs tens. Anything this check is unsure of goes through the schema, which then gives
the error (``tests/unit/test_message_fast_path.py`` compares the two on random bodies).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from providers import MAX_MODEL_NAME

#: Roles whose message is complete with a string ``content`` (``tool`` needs ``tool_call_id``).
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
_PLAIN_KEYS = frozenset({"role", "content", "name"})


def is_plain_message(message: Any) -> bool:
    """True for ``{"role", "content": str[, "name": str]}``, which ``MessageSchema`` always accepts.

    Most messages look like this; checking them here instead of through the nested
    schema makes a long conversation cheap to validate (a 1,000-message request
    spent 12 ms in marshmallow).
    """
    return (
        type(message) is dict
        and message.keys() <= _PLAIN_KEYS
        and message.get("role") in _PLAIN_ROLES
        and type(message.get("content")) is str
        and type(message.get("name", "")) is str
    )


def _number(low: float, high: float) -> Callable[[Any], bool]:
    def check(value: Any) -> bool:
        kind = type(value)
        return (kind is int or kind is float) and math.isfinite(value) and low <= value <= high

    return check


def _integer(low: int, high: float = math.inf) -> Callable[[Any], bool]:
    return lambda value: type(value) is int and low <= value <= high


def _of_type(kind: type) -> Callable[[Any], bool]:
    return lambda value: type(value) is kind


def _stop(value: Any) -> bool:
    if type(value) is str:
        return True
    return type(value) is list and 1 <= len(value) <= 4 and all(type(v) is str for v in value)


def _objects(value: Any) -> bool:
    return type(value) is list and all(type(v) is dict for v in value)


def _bias(value: Any) -> bool:
    in_range = _number(-100, 100)
    return type(value) is dict and all(type(k) is str and in_range(v) for k, v in value.items())


#: The schema's fields (``ChatCompletionSchema``), each with a check that implies it passes;
#: None passes each of them too.
_FIELDS: dict[str, Callable[[Any], bool]] = {
    "temperature": _number(0, 2),
    "top_p": _number(0, 1),
    "n": _integer(1, 128),
    "presence_penalty": _number(-2, 2),
    "frequency_penalty": _number(-2, 2),
    "stop": _stop,
    "stream": _of_type(bool),
    "stream_options": _of_type(dict),
    "max_tokens": _integer(1),
    "max_completion_tokens": _integer(1),
    "logprobs": _of_type(bool),
    "top_logprobs": _integer(0, 20),
    "logit_bias": _bias,
    "tools": _objects,
    "seed": _integer(-(2**63), 2**64),
    "user": _of_type(str),
}


def plainly_valid(body: dict[str, Any]) -> bool:
    """True when ``ChatCompletionSchema`` would accept ``body`` (False: it may or may not)."""
    model, messages = body.get("model"), body.get("messages")
    if type(model) is not str or not 1 <= len(model) <= MAX_MODEL_NAME:
        return False
    if type(messages) is not list or not messages:
        return False
    for name, check in _FIELDS.items():
        value = body.get(name)
        if value is not None and not check(value):
            return False
    if body.get("stream_options") is not None and not body.get("stream"):
        return False
    return all(map(is_plain_message, messages))
