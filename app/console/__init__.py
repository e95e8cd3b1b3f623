"""The operator console: ``/console``, server-rendered, enabled by ``ADMIN_API_KEY``.

Pages: the tier ladder (live), keys (lift a block), client keys (add, revoke, rotate;
spend and use per client key), usage (SVG charts, CSV), recent
requests (with their trails), and "try it" (the chain, then a streamed answer). Every
page sends a strict Content-Security-Policy; CSS and script come from keyrelay only.
"""

from __future__ import annotations

from flask import Flask

from app.console import auth, clients, pages, tryit  # these register their routes on bp
from app.console.blueprint import bp

__all__ = ["bp", "clients", "init_app", "pages", "tryit"]


def init_app(app: Flask) -> None:
    """Register the console (its sessions only when ADMIN_API_KEY is set)."""
    settings = app.extensions["keyrelay"].settings
    if settings.admin_key:
        auth.configure(app, settings.admin_key, settings.console_session_hours)
    app.register_blueprint(bp)
