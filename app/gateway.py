"""The per-process gateway state attached to the app: settings and the router."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app

from providers import Router

from .config import Settings

EXTENSION = "keyrelay"


@dataclass(frozen=True)
class Gateway:
    """What the views need: the settings and the router, built once per worker."""

    settings: Settings
    router: Router


def init_app(app: Flask, settings: Settings) -> None:
    """Build the router for this process and attach it to ``app``."""
    app.extensions[EXTENSION] = Gateway(settings, Router(settings.routing))


def gateway() -> Gateway:
    """Return the gateway of the current app."""
    state: Gateway = current_app.extensions[EXTENSION]
    return state


def get_router() -> Router:
    """Return the router of the current app."""
    return gateway().router
