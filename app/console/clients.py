"""The console's client keys: each key's state, limits, spend and usage by client key;
add, change, revoke and rotate (a new key is shown once, on the page that made it)."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from flask import abort, render_template, request
from providers import (
    ClientAdminError,
    ClientRecord,
    Limits,
    Period,
    StateUnavailable,
    add_client,
    parse_expiry,
    positive_int,
    revoke_client,
    rotate_client,
    set_client_limits,
)

from app.console.blueprint import bp
from app.gateway import gateway

#: The limits the add form takes, as (field, what it is).
NUMBERS = ("rpm", "tpm", "daily_tokens", "max_concurrent", "max_tier")


def _rows() -> list[dict[str, Any]]:
    router = gateway().router
    spent: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for row in router.clients.usage.client_rows(days=7, now=time.time()):
        kept = spent[row.client]
        kept[0] += row.requests
        kept[1] += row.prompt_tokens + row.completion_tokens
        kept[2] += row.cost
    now = time.time()
    found = []
    for entry in router.clients.store.entries():
        record = entry.record
        week = spent.pop(record.name, [0, 0, 0.0])
        found.append({"name": record.name, "prefix": f"kr-{record.prefix}",
                      "state": record.refused(now) or "active", "limits": record.limits,
                      "spent": entry.window.spent, "week": week})  # fmt: skip
    others = [{"name": name, "week": week} for name, week in sorted(spent.items())]
    return found + others


def _page(**shown: Any) -> str:
    return render_template("console/clients.html", rows=_rows(), **shown)


@bp.get("/clients")
def clients() -> str:
    """Every client key: state, limits, spent this period, use over 7 days."""
    return _page()


def _limits() -> Limits:
    form = request.form
    numbers: dict[str, Any] = {}
    for name in NUMBERS:
        raw = form.get(name, "").strip()
        if raw and positive_int(raw) is None:
            raise ClientAdminError(f"{name} must be a whole number above 0")
        numbers[name] = positive_int(raw) if raw else None
    models, groups, providers = (
        tuple(p.strip() for p in form.get(n, "").split(",") if p.strip())
        for n in ("models", "groups", "providers")
    )
    raw_budget = form.get("budget", "").strip()
    try:
        budget = float(raw_budget) if raw_budget else None
    except ValueError:
        raise ClientAdminError("budget must be a number of dollars") from None
    period = form.get("period") or Period.MONTH
    if period not in set(Period):
        raise ClientAdminError("period must be day, week or month")
    return Limits(models=models, groups=groups, providers=providers, **numbers,
                  budget=budget, period=Period(period))  # fmt: skip


@bp.post("/clients/add")
def clients_add() -> tuple[str, int] | str:
    """Make a client key; the page shows it once."""
    router = gateway().router
    name = request.form.get("name", "").strip()
    try:
        expires = parse_expiry(request.form.get("expires", ""))
        key, _ = add_client(router.clients.store, router.config.client_key_secret, name,
                            _limits(), expires)  # fmt: skip
    except (ClientAdminError, StateUnavailable) as exc:
        return _page(problem=str(exc)), 400
    return _page(made=(name, key))


def _record(name: str) -> ClientRecord:
    found = next((e.record for e in gateway().router.clients.store.entries()
                  if e.record.name == name), None)  # fmt: skip
    if found is None:
        abort(404, "No such client key.")
    return found


@bp.get("/clients/<name>/edit")
def clients_edit(name: str) -> str:
    """A form with the key's limits and expiry as they are, to change them."""
    record = _record(name)
    expires = time.strftime("%Y-%m-%d", time.gmtime(record.expires)) if record.expires else ""
    return render_template("console/client_edit.html", record=record, expires=expires)


@bp.post("/clients/<name>/set")
def clients_set(name: str) -> tuple[str, int] | str:
    """Replace the key's limits and expiry (an empty field lifts that limit); every worker
    and host applies them from its next request."""
    _record(name)
    try:
        expires = parse_expiry(request.form.get("expires", ""))
        set_client_limits(gateway().router.clients.store, name, _limits(), expires)
    except (ClientAdminError, StateUnavailable) as exc:
        return _page(problem=str(exc)), 400
    return _page(done=f"Changed {name}.")


@bp.post("/clients/<name>/revoke")
def clients_revoke(name: str) -> str:
    """Revoke a client key: refused from its next request, on every worker and host."""
    try:
        revoke_client(gateway().router.clients.store, name)
    except ClientAdminError:
        abort(404, "No such client key.")
    return _page(done=f"Revoked {name}.")


@bp.post("/clients/<name>/rotate")
def clients_rotate(name: str) -> str:
    """A new key for a client (limits and usage kept); the page shows it once."""
    router = gateway().router
    try:
        key = rotate_client(router.clients.store, router.config.client_key_secret, name)
    except ClientAdminError:
        abort(404, "No such client key.")
    return _page(made=(name, key))
