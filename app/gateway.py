"""The per-process gateway state attached to the app: settings and the router."""

from __future__ import annotations

import threading
import time
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
    #: Whether any client key record exists (then an unset PROXY_API_KEY opens nothing).
    client_keys_exist: Callable[[], bool] = field(default=lambda: False)


class Census:
    """Whether any client key record exists, asked of the store at most every 2 seconds."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._known = (False, -10.0)
        self._lock = threading.Lock()

    def __call__(self) -> bool:
        """True when some client key is a record (revoked ones included)."""
        found, at = self._known
        if time.monotonic() - at < 2.0:
            return found
        with self._lock:
            found = bool(self._router.clients.store.entries())
            self._known = (found, time.monotonic())
        return found


def init_app(app: Flask, settings: Settings, env: Mapping[str, str]) -> None:
    """Build the router for this process and attach it to ``app``."""
    router = Router(settings.routing)
    app.extensions[EXTENSION] = Gateway(settings, router, ModelLabels(router), env, Census(router))


def gateway() -> Gateway:
    """Return the gateway of the current app."""
    state: Gateway = current_app.extensions[EXTENSION]
    return state


def get_router() -> Router:
    """Return the router of the current app."""
    return gateway().router
