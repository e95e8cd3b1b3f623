"""``POST /v1/embeddings``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.auth import admits
from app.clients.admission import admit
from app.dialects.chat.schema import embedding_schema
from app.dialects.validate import parse_body
from app.gateway import get_router
from app.observe import current
from app.route_headers import add_served_headers, route_options

bp = Blueprint("embeddings", __name__)


@bp.post("/embeddings")
@admits
def create_embeddings() -> Response:
    """Create embeddings with a provider that offers them."""
    payload = parse_body(embedding_schema)
    record = current()
    record.model = payload["model"]
    options = admit(payload["model"], route_options(), embeddings=True)
    router = get_router()
    completion = router.embed(payload, options)
    record.serve(completion.served, stream=False, state_health=router.state_health)
    return add_served_headers(jsonify(completion.body), completion.served, options)
