"""``GET /v1/models`` and ``GET /v1/models/<id>``: ids are ``provider/model``, plus model groups."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, jsonify, request
from providers import ModelNotFound

from app.clients.admission import client_record, may_use
from app.gateway import get_router

bp = Blueprint("models", __name__)

#: Listings have no creation date of their own: report when this process started.
STARTED = int(time.time())


def model_object(model_id: str, owned_by: str) -> dict[str, Any]:
    """The OpenAI model object."""
    return {"id": model_id, "object": "model", "created": STARTED, "owned_by": owned_by}


def all_models() -> list[dict[str, Any]]:
    """Every provider's models, then the model groups (``MODEL_GROUP_<NAME>``): those the
    calling client key may use (its models, groups, providers and tier)."""
    router, record = get_router(), client_record()
    limits = record.limits if record is not None else None
    listed = (
        router.list_models(limits.providers, limits.max_tier) if limits else router.list_models()
    )
    ids = [(f"{prefix}/{m}", prefix) for prefix, m in listed]
    models = [model_object(i, owner) for i, owner in ids if _allowed(i, group=False)]
    groups = [name for name in router.config.groups if _allowed(name, group=True)]
    return models + [model_object(name, "keyrelay") for name in groups]


def _allowed(model: str, *, group: bool) -> bool:
    record = client_record()
    return record is None or may_use(record, model, group=group)


def anthropic_list(models: list[dict[str, Any]]) -> dict[str, Any]:
    """The list in Anthropic's shape (asked with ``anthropic-version``): one page of all."""
    created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(STARTED))
    data = [
        {"type": "model", "id": m["id"], "display_name": m["id"], "created_at": created}
        for m in models
    ]
    return {
        "data": data,
        "has_more": False,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


@bp.get("/models")
def list_models() -> Response:
    """List every model of every configured provider, and the model groups (in Anthropic's
    shape for a client that sends ``anthropic-version``, as Claude Code's discovery does)."""
    if request.headers.get("anthropic-version"):
        return jsonify(anthropic_list(all_models()))
    return jsonify({"object": "list", "data": all_models()})


@bp.get("/models/<path:model_id>")
def retrieve_model(model_id: str) -> Response:
    """Describe one model, or answer 404 in the error envelope."""
    for model in all_models():
        if model["id"].lower() == model_id.lower():
            return jsonify(model)
    raise ModelNotFound(f"The model '{model_id}' does not exist", param="model")
