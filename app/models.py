"""``GET /v1/models`` and ``GET /v1/models/<id>``: ids are ``provider/model``."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify

from providers.errors import ModelNotFound

from .gateway import get_router

bp = Blueprint("models", __name__)

#: Listings have no creation date of their own: report when this process started.
STARTED = int(time.time())


def model_object(provider: str, model: str) -> dict[str, Any]:
    """The OpenAI model object for ``provider/model``."""
    return {
        "id": f"{provider}/{model}",
        "object": "model",
        "created": STARTED,
        "owned_by": provider,
    }


@bp.get("/models")
def list_models() -> Response:
    """List every model of every configured provider."""
    data = [model_object(p, m) for p, m in get_router().list_models()]
    return jsonify({"object": "list", "data": data})


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> Response:
    """Describe one model, or answer 404 in the error envelope."""
    for provider, model in get_router().list_models():
        if f"{provider}/{model}".lower() == model_id.lower():
            return jsonify(model_object(provider, model))
    raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
