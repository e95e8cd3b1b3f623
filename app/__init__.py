"""keyrelay's web edge: the Flask application factory."""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections.abc import Mapping

from flask import Blueprint, Flask, Response, g, request
from providers import is_placeholder

from app import auth, body, cli, console, errors, gateway, logs, metrics, observe
from app.application import KeyrelayFlask
from app.clients import me
from app.json_provider import FastJSONProvider
from app.settings import Settings, load_settings
from app.views import chat, embeddings, health, messages, models, providers, responses, usage

log = logging.getLogger("keyrelay")

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def create_app(config: Mapping[str, str] | None = None) -> Flask:
    """Build the app from ``config`` (environment-style names), or from the environment.

    Tests pass a mapping so that they never depend on the process environment;
    without one, a ``.env`` file is loaded (existing variables win).
    """
    if config is None:
        from dotenv import load_dotenv

        load_dotenv(os.environ.get("ENV_FILE") or ".env")
        config = os.environ
    settings = load_settings(config)
    logs.configure(settings.log_level, settings.log_format)

    app = KeyrelayFlask(__name__)
    app.json = FastJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    gateway.init_app(app, settings, config)
    errors.init_app(app)
    app.before_request(_assign_request_id)
    app.before_request(body.limit_writes)
    app.after_request(_add_request_id)
    app.after_request(body.finish_connection)
    observe.init_app(app)

    api = Blueprint("v1", __name__, url_prefix="/v1")
    api.before_request(auth.require_client_key)
    for module in (chat, embeddings, models, providers, messages, responses):
        api.register_blueprint(module.bp)
    api.register_blueprint(me.bp)
    app.register_blueprint(api)
    # Outside the client-key check: /v1/usage has its own (the admin key also reads it).
    app.register_blueprint(usage.bp, url_prefix="/v1")
    app.register_blueprint(health.bp)
    app.register_blueprint(metrics.bp)
    console.init_app(app)
    router = app.extensions[gateway.EXTENSION].router
    router.on_state_latency(metrics.STATE_STORE_SECONDS.observe)
    router.on_tokens = metrics.count_tokens
    ticker = metrics.GaugeTicker(router)
    app.before_request(ticker.ensure_running)
    cli.init_app(app)

    _warn_about(settings, app.extensions[gateway.EXTENSION].client_keys_exist())
    return app


def _warn_about(settings: Settings, records: bool) -> None:
    """Say at start-up what makes this service open or useless."""
    placeholder = any(is_placeholder(k) for k in settings.client_keys)
    if (not settings.client_keys and not records) or placeholder:
        log.warning(
            "PROXY_API_KEY is %s: the proxy is OPEN to anyone who can reach it. "
            "Set PROXY_API_KEY to a secret before binding beyond 127.0.0.1.",
            "not set" if not settings.client_keys else "a published placeholder",
        )
    if not settings.routing.providers:
        log.warning("no provider is configured: set <PROVIDER>_API_KEY (see .env.example)")


def _assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def _add_request_id(response: Response) -> Response:
    response.headers["X-Request-ID"] = g.get("request_id") or uuid.uuid4().hex
    return response
