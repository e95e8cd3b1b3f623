"""The operator console: ``/console``, server-rendered, enabled by ``ADMIN_API_KEY``.

Pages: the tier ladder (live), keys (lift a block), usage (SVG charts, CSV), recent
requests (with their trails), and "try it" (the chain, then a streamed answer). Every
page sends a strict Content-Security-Policy; CSS and script come from keyrelay only.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException

from app.gateway import gateway

from . import auth

bp = Blueprint(
    "console",
    __name__,
    url_prefix="/console",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@bp.before_request
def _enabled() -> Response | None:
    """Without ADMIN_API_KEY the console does not exist: a 404 that says how to enable it."""
    if not gateway().settings.admin_key:
        return Response(render_template("console/disabled.html"), status=404)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    return response


@bp.app_template_filter("utc")
def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(at))


@bp.errorhandler(HTTPException)
def _error(exc: HTTPException) -> tuple[str, int]:
    code = exc.code or 500
    return render_template("console/error.html", code=code, message=exc.description), code


def init_app(app: Flask) -> None:
    """Register the console (its sessions only when ADMIN_API_KEY is set)."""
    settings = app.extensions["keyrelay"].settings
    if settings.admin_key:
        auth.configure(app, settings.admin_key, settings.console_session_hours)
    from . import pages, tryit  # noqa: F401 - they register their routes on bp

    app.register_blueprint(bp)
