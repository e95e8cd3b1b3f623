"""The console's blueprint: enabled only with ADMIN_API_KEY, strict headers on every page."""

from __future__ import annotations

import time

from flask import Blueprint, Response, render_template, request
from werkzeug.exceptions import HTTPException

from app.gateway import gateway

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
