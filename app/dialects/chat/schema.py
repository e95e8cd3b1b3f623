"""Request validation with marshmallow: the fields we route on and OpenAI's ranges.

Schemas only validate; the body forwarded upstream is the client's own JSON,
unknown fields included (``unknown = INCLUDE``), with only ``model`` rewritten.
"""

from __future__ import annotations

from typing import Any

from marshmallow import INCLUDE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf, Range
from providers import MAX_MODEL_NAME

from app.dialects.chat.plain import is_plain_message, plainly_valid
from app.dialects.validate import (
    MISSING_MESSAGE,
    ObjectList,
    StrictBoolean,
    StrictFloat,
    StrictInteger,
)

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class StopField(fields.Field[Any]):
    """``stop``: a string, or a list of 1 to 4 strings."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if (
            isinstance(value, list)
            and 1 <= len(value) <= 4
            and all(isinstance(item, str) for item in value)
        ):
            return value
        raise ValidationError("Must be a string or a list of 1 to 4 strings.")


class ContentField(fields.Field[Any]):
    """Message ``content``: a string, or a list of parts that each have a string ``type``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            for index, part in enumerate(value):
                if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                    raise ValidationError({index: ["Must be an object with a string 'type'."]})
            return value
        raise ValidationError("Must be a string or a list of content parts.")


class EmbeddingInputField(fields.Field[Any]):
    """``input``: a string, 1 to 2048 strings, a token list, or a list of token lists."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and 1 <= len(value) <= 2048:
            if all(isinstance(v, str) for v in value) or _tokens(value):
                return value
            if all(isinstance(v, list) and v and _tokens(v) for v in value):
                return value
        raise ValidationError("Must be a string, a list of 1 to 2048 strings, or token arrays.")


def _tokens(value: list[Any]) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in value)


class MessageSchema(Schema):
    """One chat message."""

    class Meta:
        unknown = INCLUDE

    role = fields.String(required=True, validate=OneOf(ROLES))
    content = ContentField(allow_none=True)
    name = fields.String()
    tool_call_id = fields.String()
    tool_calls = ObjectList(allow_none=True)

    @validates_schema
    def _content_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        role, content = data.get("role"), data.get("content")
        if role == "assistant":
            if content is None and not data.get("tool_calls") and not data.get("function_call"):
                raise ValidationError(
                    "An assistant message needs content or tool_calls.", "content"
                )
        elif content is None:
            raise ValidationError(MISSING_MESSAGE, "content")
        if role == "tool" and not data.get("tool_call_id"):
            raise ValidationError(MISSING_MESSAGE, "tool_call_id")


class MessageList(fields.List[Any]):
    """``messages``: plain messages are accepted as they are; the rest go through the schema."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, list):
            return super()._deserialize(value, attr, data, **kwargs)
        errors = {}
        for index, message in enumerate(value):
            if is_plain_message(message):
                continue
            try:
                self.inner.deserialize(message, **kwargs)
            except ValidationError as error:
                errors[index] = error.messages
        if errors:
            raise ValidationError(errors)
        return value


class ChatCompletionSchema(Schema):
    """``POST /v1/chat/completions``."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=Length(min=1, max=MAX_MODEL_NAME))
    messages = MessageList(fields.Nested(MessageSchema), required=True, validate=Length(min=1))
    temperature = StrictFloat(allow_none=True, validate=Range(0, 2))
    top_p = StrictFloat(allow_none=True, validate=Range(0, 1))
    n = StrictInteger(allow_none=True, validate=Range(1, 128))
    presence_penalty = StrictFloat(allow_none=True, validate=Range(-2, 2))
    frequency_penalty = StrictFloat(allow_none=True, validate=Range(-2, 2))
    stop = StopField(allow_none=True)
    stream = StrictBoolean(allow_none=True)
    stream_options = fields.Dict(allow_none=True)
    max_tokens = StrictInteger(allow_none=True, validate=Range(min=1))
    max_completion_tokens = StrictInteger(allow_none=True, validate=Range(min=1))
    logprobs = StrictBoolean(allow_none=True)
    top_logprobs = StrictInteger(allow_none=True, validate=Range(0, 20))
    logit_bias = fields.Dict(
        keys=fields.String(), values=StrictFloat(validate=Range(-100, 100)), allow_none=True
    )
    tools = ObjectList(allow_none=True)
    seed = StrictInteger(allow_none=True)
    user = fields.String(allow_none=True)

    @validates_schema
    def _cross_field_rules(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data.get("stream_options") is not None and not data.get("stream"):
            raise ValidationError(
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "stream_options",
            )


class EmbeddingSchema(Schema):
    """``POST /v1/embeddings``."""

    class Meta:
        unknown = INCLUDE

    model = fields.String(required=True, validate=Length(min=1, max=MAX_MODEL_NAME))
    input = EmbeddingInputField(required=True)
    encoding_format = fields.String(validate=OneOf(("float", "base64")))
    dimensions = StrictInteger(validate=Range(min=1))
    user = fields.String()


class PlainFirstChatSchema(ChatCompletionSchema):
    """``ChatCompletionSchema`` that accepts a plain request at once (``chat.plain``)."""

    def validate(self, data: Any, **kwargs: Any) -> dict[str, Any]:
        """No errors for a plain request; the schema's own otherwise."""
        if not kwargs and type(data) is dict and plainly_valid(data):
            return {}
        errors: dict[str, Any] = super().validate(data, **kwargs)
        return errors


chat_schema = PlainFirstChatSchema()
embedding_schema = EmbeddingSchema()
