"""Admit a request under its client key before any upstream is called; settle it once
when its response closes (whole, streamed, failed, or left by the client)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import replace
from fnmatch import fnmatchcase
from typing import Any

from flask import g, request
from providers import (
    Caller,
    ClientGate,
    ClientRecord,
    ClientRefused,
    ProviderError,
    RouteOptions,
    Served,
    StateUnavailable,
    Ticket,
)

from app import metrics
from app.auth import confirmed_caller
from app.clients.refusals import refused, store_away
from app.errors import APIError
from app.gateway import gateway
from app.observe import current
from app.route_headers import route_options

#: The body fields that cap an answer's output, by dialect.
OUTPUT_CAPS = ("max_completion_tokens", "max_tokens", "max_output_tokens")


def client_record() -> ClientRecord | None:
    """The record of the client key this request came with (None: a PROXY_API_KEY key)."""
    record: ClientRecord | None = g.get("client")
    return record


def may_use(record: ClientRecord, model: str, *, group: bool | None = None) -> bool:
    """True when ``record`` may ask for ``model`` (a model group by its group patterns)."""
    limits = record.limits
    if not (limits.models or limits.groups):
        return True
    is_group = _is_group(model) if group is None else group
    return any(fnmatchcase(model, p) for p in (limits.groups if is_group else limits.models))


def _is_group(model: str) -> bool:
    return model.lower() in {name.lower() for name in gateway().router.config.groups}


def check_model(record: ClientRecord, model: str) -> None:
    """403 unless ``record`` may ask for ``model`` (a model group by its group patterns)."""
    if not may_use(record, model):
        kind = "model group" if _is_group(model) else "model"
        exc = ClientRefused(
            403, "model_not_allowed", f"This client key may not use the {kind} '{model[:128]}'."
        )
        raise refused(exc)


def _checked(caller: Caller, model: str) -> Caller:
    """``caller`` if it may ask for ``model``; a record recalled from this process that
    says no is read again first (the operator may have just allowed it)."""
    if not caller.confirmed:
        try:
            check_model(caller.record, model)
            return caller
        except APIError:
            current().refusal = None
            fresh = confirmed_caller()
            if fresh is None:
                raise APIError(401, "Incorrect API key provided.", code="invalid_api_key") from None
            caller = fresh
    check_model(caller.record, model)
    return caller


def max_output(*bodies: Mapping[str, Any] | None) -> int | None:
    """The output cap the request set (``max_tokens`` and its kin), if any."""
    for body in bodies:
        for name in OUTPUT_CAPS:
            value = (body or {}).get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def admit(model: str, options: RouteOptions, *bodies: Mapping[str, Any] | None,
          embeddings: bool = False) -> RouteOptions:  # fmt: skip
    """Check the caller's client key and hold this request's reservation (or refuse it);
    the options with the hook that counts its tokens."""
    caller: Caller | None = g.get("caller")
    routed = caller.record if caller is not None else None  # what ``options`` were made with
    gate = gateway().router.clients
    if caller is not None:
        caller = _checked(caller, model)
    output = 0 if embeddings else max_output(*bodies)
    ticket = _ticket(gate, caller, model, options, embeddings, output)
    if caller is not None and ticket.record is not None and _newly_priced(caller, ticket):
        # Priced at nothing under a record without a budget: given back, admitted again.
        gate.release(ticket)
        caller = Caller(ticket.record, caller.digest, confirmed=True)
        ticket = _ticket(gate, caller, model, options, embeddings, output)
    charge = Charge(ticket, gate)
    current().charge = charge
    if ticket.record is not None and ticket.record != routed:
        options = _changed_meanwhile(ticket, model, options)
    return replace(options, on_tokens=charge.told)


def _ticket(gate: ClientGate, caller: Caller | None, model: str, options: RouteOptions,
            embeddings: bool, output: int | None) -> Ticket:  # fmt: skip
    """The gate's admission, priced at the dearest candidate for a key with a budget."""
    price = gate.dearest(_chain(model, options, embeddings)) if _priced(caller) else None
    try:
        return gate.admit(caller, price=price or gate.dearest(()), body_bytes=_body_bytes(),
                          max_output=output)  # fmt: skip
    except ClientRefused as exc:
        raise refused(exc) from None
    except StateUnavailable:
        raise store_away() from None


def _newly_priced(caller: Caller, ticket: Ticket) -> bool:
    """The store's record has a budget that the record this worker recalled had not."""
    record = ticket.record
    return record is not None and record.limits.budget is not None and not _priced(caller)


def _changed_meanwhile(ticket: Ticket, model: str, options: RouteOptions) -> RouteOptions:
    """The operator changed the key since this process last saw it: its models and what
    narrows its route are checked again under the record the store admitted it with."""
    record = ticket.record
    assert record is not None
    g.client = record
    try:
        check_model(record, model)
    except APIError:
        gateway().router.clients.release(ticket)
        raise
    return route_options(include_usage=options.include_usage, session=options.session)


def _priced(caller: Caller | None) -> bool:
    return caller is not None and caller.record.limits.budget is not None


def _chain(model: str, options: RouteOptions, embeddings: bool) -> list[tuple[str, str]]:
    try:
        chain = gateway().router.resolve(model, embeddings=embeddings, options=options)
    except ProviderError:
        return []  # the walk itself will say why
    return [(c.provider.name, c.model) for c in chain]


def _body_bytes() -> int:
    return request.content_length or len(request.get_data(cache=True))


class Charge:
    """One admitted request's ticket, the tokens it used, and its one settlement."""

    def __init__(self, ticket: Ticket, gate: ClientGate) -> None:
        self.ticket, self._gate = ticket, gate
        self.tokens: tuple[int, int, int, int] | None = None
        self._lock = threading.Lock()

    def told(self, tokens: tuple[int, int, int, int]) -> None:
        """The upstream reported these tokens for this request."""
        with self._lock:
            self.tokens = tokens

    def settle(self, served: Served | None) -> None:
        """Release the hold and count the request (the record's finish calls it once, when
        the response closes: no request context is needed)."""
        tokens = (0, 0, 0, 0) if served is not None and served.cached else self.tokens
        cost = self._gate.settle(
            self.ticket,
            provider=served.provider if served else None,
            key=served.key if served else None,
            model=served.model if served else None,
            tokens=tokens,
        )
        if cost is not None:
            metrics.count_client(self.ticket.client, tokens, cost)
