"""Validation every dialect shares: the bounded JSON body, strict scalars, the first error."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, ValidationError, fields
from providers import MAX_JSON_DEPTH, JSONTooDeep, loads_bounded

from app.body import read_body
from app.errors import APIError
from app.notes import note_model


class StrictFloat(fields.Float):
    """A JSON number; strings and booleans are refused."""

    def _validated(self, value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictInteger(fields.Integer):
    """A JSON integer; strings, booleans and fractions are refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _validated(self, value: Any) -> int:
        if isinstance(value, bool):
            raise self.make_error("invalid")
        return super()._validated(value)


class StrictBoolean(fields.Boolean):
    """A JSON boolean; ``"true"`` and ``1`` are refused."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(truthy={True}, falsy={False}, **kwargs)


class ObjectList(fields.List[Any]):
    """A list of JSON objects, checked in one pass (as ``List(Dict())`` would, with its
    message): a long conversation costs no schema object per item."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(fields.Dict(), **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if type(value) is not list:
            return super()._deserialize(value, attr, data, **kwargs)
        for index, item in enumerate(value):
            if type(item) is not dict:
                raise ValidationError({index: [NOT_AN_OBJECT]})
        return value


#: marshmallow's message for an item of a ``List(Dict())`` that is not an object.
NOT_AN_OBJECT = "Not a valid mapping type."


def first_error(messages: Any, path: str = "") -> tuple[str, str]:
    """Return (param, message) for the first error in marshmallow's nested messages."""
    if isinstance(messages, dict):
        name, inner = next(iter(messages.items()))
        if isinstance(inner, dict) and inner and set(inner) <= {"key", "value"}:
            # An entry of a Dict field (logit_bias): name the field, not the entry.
            return first_error(next(iter(inner.values())), path)
        if name == "_schema":
            return first_error(inner, path)
        step = f"[{name}]" if isinstance(name, int) else (f".{name}" if path else str(name))
        return first_error(inner, path + step)
    if isinstance(messages, list) and messages:
        return first_error(messages[0], path)
    return path, str(messages)


def parse_body(schema: Schema) -> dict[str, Any]:
    """Return the request's JSON object, validated by ``schema``, or raise ``APIError`` (400)."""
    return parse_body_and_bytes(schema)[0]


def parse_body_and_bytes(schema: Schema) -> tuple[dict[str, Any], bytes]:
    """The request's JSON object validated by ``schema``, and the bytes it was read from."""
    raw = read_body()
    try:
        data = loads_bounded(raw)
    except JSONTooDeep:
        raise APIError(
            400,
            f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.",
            code="invalid_json",
        ) from None
    except ValueError:
        raise APIError(
            400,
            "We could not parse the JSON body of your request. The body must be valid JSON.",
            code="invalid_json",
        ) from None
    if not isinstance(data, dict):
        raise APIError(400, "The request body must be a JSON object.", code="invalid_json")
    note_model(data.get("model"))
    errors = schema.validate(data)
    if errors:
        param, message = first_error(errors)
        if message == MISSING_MESSAGE:
            raise APIError(
                400,
                f"Missing required parameter: '{param}'.",
                param=param,
                code="missing_required_parameter",
            )
        raise APIError(
            400, f"Invalid value for '{param}': {message}", param=param, code="invalid_value"
        )
    return data, raw


MISSING_MESSAGE = "Missing data for required field."
