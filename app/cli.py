"""Operator commands: ``flask --app wsgi config-check`` and ``flask --app wsgi route <model>``."""

from __future__ import annotations

import time

import click
from flask import Flask
from flask.cli import with_appcontext
from providers import ProviderError, RouteOptions, ignored_variables, is_placeholder, redact_url

from app.clients.cli import clients
from app.gateway import gateway


def config_problems() -> list[str]:
    """Errors in a configuration that loaded: nothing to route to, broken model groups."""
    state = gateway()
    router = state.router
    problems = []
    if not router.status():
        problems.append("no provider is configured: set <PROVIDER>_API_KEY (see .env.example)")
    for name, entries in state.settings.routing.groups.items():
        for entry in entries:
            prefix = entry.split("/", 1)[0].lower()
            if prefix not in router.prefixes:
                problems.append(
                    f"MODEL_GROUP_{name.upper()}: '{entry}' names provider '{prefix}', "
                    "which is not configured"
                )
    return problems


@click.command("config-check")
@with_appcontext
def config_check() -> None:
    """Validate the configuration and print providers, tiers, endpoints and keys."""
    state = gateway()
    router = state.router
    click.echo(f"client keys: {len(state.settings.client_keys)} (PROXY_API_KEY)")
    if not state.settings.client_keys:
        click.echo("warning: PROXY_API_KEY is not set: the proxy is open to anyone who reaches it")
    elif any(is_placeholder(k) for k in state.settings.client_keys):
        click.echo(
            "warning: PROXY_API_KEY is a published placeholder: set a secret before exposing "
            "keyrelay (gunicorn refuses a non-loopback BIND with it)"
        )
    click.echo(f"fallback: {'on' if state.settings.routing.fallback_enabled else 'off'}")
    click.echo(f"state: {redact_url(router.config.state_url)} ({router.state_health})")
    click.echo("providers (tier, name, base URL, keys, dialects):")
    for status in router.status():
        ids = status.key_ids
        listed = "no key" if status.keyless else f"{len(ids)}: " + " ".join(ids)
        routes = f"  routes: {','.join(status.routes)}" if status.routes else ""
        dialects = ",".join(status.dialects)
        click.echo(
            f"  {status.tier:>2}  {status.provider:<12} {status.base_url}  [{listed}]"
            f"  speaks: {dialects}{routes}"
        )
    for name, entries in state.settings.routing.groups.items():
        click.echo(f"model group {name}: {', '.join(entries)}")
    for item in ignored_variables(state.env):
        click.echo(f"warning: ignored {item.variable}: {item.reason}")
    problems = config_problems()
    for problem in problems:
        click.echo(f"error: {problem}", err=True)
    if problems:
        raise SystemExit(1)
    click.echo("configuration OK")


@click.command("route")
@with_appcontext
@click.argument("model")
@click.option("--max-tier", type=click.IntRange(min=1), default=None, help="Lowest tier accepted.")
@click.option(
    "--no-fallback", is_flag=True, help="Only the first candidate, as with X-Fallback: off."
)
def route(model: str, max_tier: int | None, no_fallback: bool) -> None:
    """Print the chain of candidates MODEL resolves to, in the order they are tried."""
    router = gateway().router
    options = RouteOptions(
        fallback=router.config.fallback_enabled and not no_fallback, max_tier=max_tier
    )
    try:
        steps = router.route(model, options)
    except ProviderError as exc:
        click.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
    for position, step in enumerate(steps, start=1):
        head = f"{position}. tier {step.tier}  {step.provider}  model={step.model}  "
        if step.skip is not None:
            name = step.provider.upper()
            click.echo(
                f"{head}skipped: {step.skip} (IGNORE_MODELS_{name} / WHITELIST_MODELS_{name})"
            )
            continue
        usable = "no key" if step.keyless else f"{step.usable}/{step.keys}"
        click.echo(f"{head}keys usable={usable}  circuit={step.circuit}")


@click.group("keys", invoke_without_command=True)
@click.pass_context
@with_appcontext
def keys(context: click.Context) -> None:
    """List every key by fingerprint: provider, tier, state, blocked for how long, and why."""
    if context.invoked_subcommand is not None:
        return
    router = gateway().router
    if not router.state_shared:
        click.echo("note: STATE_URL=memory:// keeps state in each worker: this is a new process's")
    today = {
        (r.provider, r.key): r for r in router.usage.rows(provider=None, days=1, now=time.time())
    }
    click.echo(
        "provider     tier  key           state      blocked for  set by    strikes  in flight"
        "  requests today  tokens today  cached today"
    )
    for status in router.status():
        for key in status.keys:
            blocked = f"{key.available_in:.0f} s" if key.available_in else "-"
            used = today.get((status.provider, key.key))
            click.echo(
                f"{status.provider:<12} {status.tier:>4}  {key.key:<13} {key.status:<10} "
                f"{blocked:>11}  {key.blocked_by or '-':<8}  {key.strikes:>7}  {key.in_flight:>9}"
                f"  {used.requests if used else 0:>14}  {used.total_tokens if used else 0:>12}"
                f"  {used.cached_tokens if used else 0:>12}"
            )


@keys.command("reset")
@click.argument("provider")
@click.argument("fingerprint", required=False)
@with_appcontext
def keys_reset(provider: str, fingerprint: str | None) -> None:
    """Lift the blocks of PROVIDER's keys (or of the one FINGERPRINT), after a key was
    replaced or topped up."""
    router = gateway().router
    if not router.state_shared:
        click.echo(
            "error: STATE_URL=memory:// keeps state inside each worker, out of this command's "
            "reach: restart keyrelay to forget every block, or use STATE_URL=sqlite:///...",
            err=True,
        )
        raise SystemExit(1)
    try:
        lifted = router.unblock(provider.lower(), fingerprint)
    except KeyError as exc:
        click.echo(f"error: no provider or key {exc}", err=True)
        raise SystemExit(1) from None
    click.echo(f"lifted {len(lifted)}: {' '.join(lifted) if lifted else 'nothing was blocked'}")


def init_app(app: Flask) -> None:
    """Register the operator commands."""
    app.cli.add_command(config_check)
    app.cli.add_command(route)
    app.cli.add_command(keys)
    app.cli.add_command(clients)
