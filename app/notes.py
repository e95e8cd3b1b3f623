"""Notes on the request's record made before it is served (kept free of app imports:
the error handlers use it, and the record's own module imports theirs)."""

from __future__ import annotations

from typing import Any

from flask import g
from providers import MAX_MODEL_NAME


def note_refusal(code: str | None) -> None:
    """Note on the request's record the code of the error keyrelay answered it with."""
    record = g.get("record")
    if record is not None:
        record.error_code = code


def note_model(model: Any) -> None:
    """Note the model a request body names, as soon as it is read (a refusal names it)."""
    record = g.get("record")
    if record is not None and isinstance(model, str) and model:
        record.model = model[:MAX_MODEL_NAME]
