"""The console's pages: sign-in, the ladder, keys, usage, recent requests."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from typing import Any

from flask import (
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from providers import MAX_RECENT, StateUnavailable, positive_int
from werkzeug.wrappers import Response as BaseResponse

from app.auth import authenticated
from app.console import charts, data
from app.console.auth import (
    SignInLimit,
    check_csrf,
    client_address,
    csrf_token,
    sign_in,
    sign_out,
    signed_in,
)
from app.console.blueprint import bp
from app.gateway import gateway

#: The recent requests shown (all the state store keeps: ``MAX_RECENT``).
RECENT_SHOWN = MAX_RECENT
#: Keys charted day by day on the usage page (those that spent the most tokens).
KEYS_CHARTED = 20


@bp.before_request
def _guard() -> BaseResponse | None:
    """Sign-in first; every POST with this session's CSRF token."""
    if request.endpoint in ("console.login", "console.static"):
        return None
    if not signed_in(gateway().router.tally):
        return redirect(url_for("console.login"))
    authenticated()
    if request.method == "POST":
        check_csrf(request)
    return None


@bp.context_processor
def _common() -> dict[str, Any]:
    return {"csrf_token": csrf_token, "state": gateway().router.state_health}


@bp.route("/login", methods=["GET", "POST"])
def login() -> BaseResponse | str:
    """The sign-in form; the admin key starts a session."""
    error, status = None, 200
    if request.method == "POST":  # no session yet, so no CSRF token: nothing to steer
        address = client_address(request, gateway().settings.forwarded_allow_ips)
        presented = request.form.get("key", "")
        limit = SignInLimit(gateway().router.tally)
        if limit.blocked(address):
            error, status = "Too many wrong keys: wait a minute before trying again.", 429
        elif sign_in(presented, gateway().settings.admin_key):
            return redirect(url_for("console.overview"))
        else:
            limit.failed(address, presented)
            error, status = "That is not the admin key (ADMIN_API_KEY).", 401
    return Response(render_template("console/login.html", error=error), status=status)


@bp.post("/logout")
def logout() -> BaseResponse:
    """End the session, for every worker and host."""
    sign_out(gateway().router.tally)
    return redirect(url_for("console.login"))


def _recent() -> list[dict[str, Any]]:
    return gateway().router.recent.latest(RECENT_SHOWN)


@bp.errorhandler(StateUnavailable)
def _store_away(exc: StateUnavailable) -> tuple[str, int]:
    message = (
        "The state store does not answer right now, so usage and key details are unavailable. "
        "Requests are still served; this page works again once the store answers."
    )
    return render_template("console/error.html", code=503, message=message), 503


@bp.get("/")
def overview() -> str:
    """The tier ladder; it refreshes itself."""
    return render_template("console/overview.html", tiers=data.ladder(gateway().router, _recent()))


@bp.get("/ladder")
def ladder_fragment() -> str:
    """The ladder alone, for the overview's live refresh."""
    return render_template("console/_ladder.html", tiers=data.ladder(gateway().router, _recent()))


@bp.get("/keys")
def keys() -> str:
    """Every key by fingerprint: state, until when and why, last error, usage."""
    rows = data.key_rows(gateway().router, _recent())
    return render_template("console/keys.html", rows=rows, lifted=request.args.get("lifted"))


@bp.post("/keys/reset")
def keys_reset() -> BaseResponse:
    """Lift a key's block (what ``flask --app wsgi keys reset`` does)."""
    provider, key = request.form.get("provider", ""), request.form.get("key") or None
    try:
        lifted = gateway().router.unblock(provider, key)
    except KeyError:
        abort(404, "No such provider or key.")
    return redirect(url_for("console.keys", lifted=",".join(lifted) or "none"))


def _usage_rows(days: int) -> list[Any]:
    router = gateway().router
    return router.usage.rows(provider=None, days=days, now=time.time())


def _days() -> int:
    retention = gateway().router.config.usage_retention_days
    days = positive_int(request.args.get("days", "").strip())
    return min(days or 30, retention)


@bp.get("/usage")
def usage() -> str:
    """Requests and tokens per provider and per key per day, as bar charts."""
    days = _days()
    per_provider: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    per_key: dict[tuple[str, str], int] = defaultdict(int)
    key_days: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(dict)
    prompt_cached: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in _usage_rows(days):
        prompt_cached[row.provider][0] += row.prompt_tokens
        prompt_cached[row.provider][1] += row.cached_tokens
        per_provider[row.provider][row.date][0] += row.requests
        per_provider[row.provider][row.date][1] += row.total_tokens
        per_key[(row.provider, row.key)] += row.total_tokens
        key_days[(row.provider, row.key)][row.date] = [row.requests, row.total_tokens]
    charts_by_provider = {
        provider: (
            charts.bars([(d, v[0]) for d, v in sorted(by_day.items())], "requests"),
            charts.bars([(d, v[1]) for d, v in sorted(by_day.items())], "tokens"),
        )
        for provider, by_day in sorted(per_provider.items())
    }
    top_keys = sorted(per_key.items(), key=lambda item: -item[1])
    key_charts = [
        (where, charts.bars([(d, v[1]) for d, v in sorted(key_days[where].items())], "tokens"))
        for where, _ in top_keys[:KEYS_CHARTED]
    ]
    return render_template(
        "console/usage.html",
        days=days,
        charts=charts_by_provider,
        keys=top_keys,
        key_charts=key_charts,
        cached={p: c / t for p, (t, c) in prompt_cached.items() if t},
    )


@bp.get("/usage.csv")
def usage_csv() -> Response:
    """Every usage row of the window, as CSV."""
    out = io.StringIO()
    writer = csv.writer(out)
    fields = ["date", "provider", "key", "requests", "succeeded", "failed"]
    fields += ["prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"]
    writer.writerow(fields)
    for row in _usage_rows(_days()):
        writer.writerow([getattr(row, name) for name in fields])
    headers = {"Content-Disposition": "attachment; filename=keyrelay-usage.csv"}
    return Response(out.getvalue(), mimetype="text/csv", headers=headers)


@bp.get("/requests")
def requests_page() -> str:
    """The last requests, newest first."""
    return render_template("console/requests.html", entries=_recent())


@bp.get("/requests/<entry_id>")
def request_page(entry_id: str) -> str:
    """One request and its attempt trail, by keyrelay's own id for it."""
    found = next((e for e in _recent() if e.get("id") == entry_id), None)
    if found is None:
        abort(404, "That request is no longer among the recent ones.")
    return render_template("console/request.html", entry=found)
