"""The per-process gateway state attached to the app: settings and the router."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import Flask, current_app
from providers import Router

from app.model_labels import ModelLabels
from app.settings import Settings

EXTENSION = "keyrelay"


@dataclass(frozen=True)
class Gateway:
    """What the views need: the settings and the router, built once per worker."""

    settings: Settings
    router: Router
    #: The bounded ``model`` label of the request metrics.
    model_labels: Callable[[str], str]
    #: The variables the settings were read from (for ``config-check``'s audit).
    env: Mapping[str, str] = field(repr=False, default_factory=dict)


def init_app(app: Flask, settings: Settings, env: Mapping[str, str]) -> None:
    """Build the router for this process and attach it to ``app``."""
    router = Router(settings.routing)
    app.extensions[EXTENSION] = Gateway(settings, router, ModelLabels(router), env)


def gateway() -> Gateway:
    """Return the gateway of the current app."""
    state: Gateway = current_app.extensions[EXTENSION]
    return state


def get_router() -> Router:
    """Return the router of the current app."""
    return gateway().router
