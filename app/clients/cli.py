"""``flask --app wsgi clients``: add, list, set, revoke and rotate client keys."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import click
from flask.cli import with_appcontext
from providers import (
    ClientAdminError,
    Limits,
    Period,
    StateUnavailable,
    add_client,
    edit_client,
    parse_expiry,
    revoke_client,
    rotate_client,
)

from app.gateway import gateway

_NUMBERS = ("rpm", "tpm", "daily_tokens", "max_concurrent", "max_tier")


def _limit_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options ``add`` and ``set`` share (on ``set``, a given one replaces the kept one;
    0 or an empty list lifts it)."""
    options = [
        click.option("--models", help="Model patterns it may ask for, comma-separated."),
        click.option("--groups", help="Model group patterns it may ask for."),
        click.option("--providers", help="Provider patterns that may serve it."),
        click.option("--max-tier", type=click.IntRange(min=0), help="Lowest tier it may use."),
        click.option("--rpm", type=click.IntRange(min=0), help="Requests per minute."),
        click.option("--tpm", type=click.IntRange(min=0), help="Tokens per minute."),
        click.option("--daily-tokens", type=click.IntRange(min=0), help="Tokens per UTC day."),
        click.option("--max-concurrent", type=click.IntRange(min=0), help="Requests at once."),
        click.option("--budget", type=click.FloatRange(min=0), help="US dollars per period."),
        click.option(
            "--period", type=click.Choice([p.value for p in Period]), help="Budget period."
        ),
        click.option("--expires", help="When it stops working: YYYY-MM-DD (UTC) or 'never'."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _patterns(raw: str | None) -> tuple[str, ...] | None:
    return None if raw is None else tuple(p.strip() for p in raw.split(",") if p.strip())


def _expiry(raw: str | None, kept: float | None) -> float | None:
    if raw is None:
        return kept
    try:
        return parse_expiry(raw)
    except ClientAdminError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires") from None


def _limits(kept: Limits, given: dict[str, Any]) -> Limits:
    changes: dict[str, Any] = {}
    for name in ("models", "groups", "providers"):
        if (found := _patterns(given.get(name))) is not None:
            changes[name] = found
    for name in _NUMBERS:
        if given.get(name) is not None:
            changes[name] = given[name] or None
    if given.get("budget") is not None:
        changes["budget"] = given["budget"] if given["budget"] > 0 else None
    if given.get("period"):
        changes["period"] = Period(given["period"])
    return replace(kept, **changes)


def _store() -> Any:
    router = gateway().router
    if not router.state_shared:
        click.echo("error: client keys live in the state store: set STATE_URL to sqlite:///... "
                   "or redis://... (memory:// is each worker's own)", err=True)  # fmt: skip
        raise SystemExit(1)
    return router.clients.store


def _fail(exc: Exception) -> None:
    click.echo(f"error: {exc}", err=True)
    raise SystemExit(1)


@click.group("clients")
def clients() -> None:
    """Client keys: one per person or app, each with its own limits and budget."""


@clients.command("add")
@click.argument("name")
@_limit_options
@with_appcontext
def add(name: str, expires: str | None, **given: Any) -> None:
    """Create a client key NAME; the key is printed once and never stored."""
    secret = gateway().router.config.client_key_secret
    try:
        key, _ = add_client(
            _store(), secret, name, _limits(Limits(), given), _expiry(expires, None)
        )
    except (ClientAdminError, StateUnavailable) as exc:
        _fail(exc)
    click.echo(f"created {name}: {key}")
    click.echo("this key is shown once: keyrelay keeps only its prefix and a keyed hash")


@clients.command("set")
@click.argument("name")
@_limit_options
@with_appcontext
def set_(name: str, expires: str | None, **given: Any) -> None:
    """Change NAME's limits (only the options given); every worker applies them at once."""
    try:
        record = edit_client(_store(), name, lambda r: replace(
            r, limits=_limits(r.limits, given), expires=_expiry(expires, r.expires)))  # fmt: skip
    except (ClientAdminError, StateUnavailable) as exc:
        _fail(exc)
    click.echo(f"changed {record.name}: {_shown(record.limits)}")


@clients.command("revoke")
@click.argument("name")
@with_appcontext
def revoke(name: str) -> None:
    """Refuse NAME's key from its next request on, on every worker and host."""
    try:
        revoke_client(_store(), name)
    except (ClientAdminError, StateUnavailable) as exc:
        _fail(exc)
    click.echo(f"revoked {name}")


@clients.command("rotate")
@click.argument("name")
@with_appcontext
def rotate(name: str) -> None:
    """A new key for NAME (limits, budget and usage kept); the old key stops now."""
    secret = gateway().router.config.client_key_secret
    try:
        key = rotate_client(_store(), secret, name)
    except (ClientAdminError, StateUnavailable) as exc:
        _fail(exc)
    click.echo(f"rotated {name}: {key}")
    click.echo("this key is shown once; the old one no longer works")


@clients.command("list")
@with_appcontext
def list_() -> None:
    """Every client key: name, prefix, state, limits, spent this period."""
    now = time.time()
    click.echo(f"{'name':<24} {'prefix':<12} {'state':<8} {'spent':>12}  limits")
    for entry in _store().entries():
        record = entry.record
        state = record.refused(now) or "active"
        spent = f"${entry.window.spent:.4f}"
        click.echo(f"{record.name:<24} kr-{record.prefix:<9} {state:<8} {spent:>12}  "
                   f"{_shown(record.limits)}")  # fmt: skip


def _shown(limits: Limits) -> str:
    parts = [f"{n}={','.join(v)}" for n in ("models", "groups", "providers")
             if (v := getattr(limits, n))]  # fmt: skip
    parts += [f"{n}={getattr(limits, n)}" for n in _NUMBERS if getattr(limits, n) is not None]
    if limits.budget is not None:
        parts.append(f"budget=${limits.budget:g}/{limits.period}")
    return " ".join(parts) or "unlimited"
