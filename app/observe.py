"""One record per request: metrics and one structured log line when the response closes.

The record is finished by ``Response.call_on_close``, which the WSGI server runs
after the last byte (a stream's end, or the client going away), so streams are
measured whole. It never reads ``request`` or ``g`` at that point: everything it
needs is stored on it while the request is handled.
"""

from __future__ import annotations

import itertools
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, request
from providers import Attempt, ProviderError, RecentStore, Served, current_pid

from app import metrics
from app.gateway import EXTENSION

log = logging.getLogger("keyrelay.request")


@dataclass
class RequestRecord:
    """What one request did, filled in as it goes."""

    request_id: str
    method: str
    route: str
    #: Turns the model asked for into a bounded label value (``model_labels.ModelLabels``).
    model_label: Callable[[str], str]
    started: float = field(default_factory=time.monotonic)
    model: str = "-"
    served: Served | None = None
    #: The model the upstream says answered (an aggregator may swap it).
    served_model: str | None = None
    error: ProviderError | None = None
    #: The code of an error keyrelay itself answered (a 400, a 401...).
    error_code: str | None = None
    #: Built-in tools (and unreadable items) a translated request left out.
    left_out: list[str] = field(default_factory=list)
    #: ``degraded`` when it was served while the shared state store did not answer.
    state: str | None = None
    #: The client's own dialect when it went upstream as it is (``messages``, ``responses``).
    upstream_dialect: str | None = None
    #: The session it was a turn of: a digest (``app.sessions``), never the client's id.
    session: str | None = None
    #: The client key's name (from its record, never from the request) once authenticated.
    client: str | None = None
    #: Why its client key was refused before any upstream was called, if it was.
    refusal: str | None = None
    stream: bool = False
    status: int = 0
    bytes: int = 0
    #: Seconds until the answer started (headers out), for the overhead histogram.
    answered_in: float | None = None
    #: Response cache: hit, miss or bypass (None when the cache is off).
    cache: str | None = None
    finished: bool = False
    #: Where the request is kept for the console's "recent requests" (None: nowhere).
    recent: RecentStore | None = None
    #: The client key's admission, settled when the response closes (None: none was made).
    charge: Any = None
    #: The caller proved who it is (a client key, or a console session): only such requests
    #: are kept among the recent ones, so that no stranger can push real ones out.
    authenticated: bool = False

    def serve(
        self,
        served: Served,
        *,
        stream: bool,
        served_model: str | None = None,
        state_health: str = "shared",
        upstream_dialect: str | None = None,
    ) -> None:
        """Note who served (and the model the upstream says answered, whether the shared
        state store answered, and the dialect sent when native); a stream starts now."""
        self.served, self.stream, self.served_model = served, stream, served_model
        self.upstream_dialect = upstream_dialect
        self.state = state_health if state_health == "degraded" else None
        self.answered_in = time.monotonic() - self.started

    def finish(self) -> None:
        """Record metrics and write the log line; runs once, when the response closes."""
        if self.finished:
            return
        self.finished = True
        if self.charge is not None:
            self.charge.settle(self.served)
        if self.refusal is not None:
            metrics.child(metrics.CLIENT_REFUSALS, self.client or "-", self.refusal).inc()
        elapsed = time.monotonic() - self.started
        served, error = self.served, self.error
        trail: list[Attempt] = served.entries if served else (error.trail if error else [])
        metrics.record_attempts(trail)
        # Only configured models become label values: a client cannot mint new series.
        model = self.model_label(self.model) if self.model != "-" else "-"
        metrics.child(metrics.REQUESTS, self.route, model, str(self.status)).inc()
        metrics.IN_FLIGHT.dec()
        upstream_time = sum(a.seconds for a in trail)
        if self.cache is not None:
            metrics.child(metrics.CACHE, self.cache).inc()
        if served is not None and not served.cached:
            labels = (served.provider, str(served.tier))
            latency = time.monotonic() - served.started if self.stream else trail[-1].seconds
            metrics.child(metrics.UPSTREAM_LATENCY, *labels).observe(latency)
            if served.fell_back:
                metrics.child(metrics.FALLBACKS, str(served.first_tier), str(served.tier)).inc()
        answered = self.answered_in if self.answered_in is not None else elapsed
        metrics.child(metrics.OVERHEAD, self.route).observe(max(0.0, answered - upstream_time))
        self._log(elapsed, trail)
        if self.recent is not None and self.authenticated and self.route != "unmatched":
            self.recent.add(self._entry(elapsed, trail))

    def _entry(self, elapsed: float, trail: list[Attempt]) -> dict[str, Any]:
        served = self.served
        shown = "".join(c for c in self.model[:128] if c.isprintable())
        return {
            "at": time.time(),
            #: keyrelay's own name for the entry (the request id is the client's to choose).
            "id": _entry_id(),
            "request_id": self.request_id,
            "route": self.route,
            "model": shown,
            "provider": served.provider if served else None,
            "tier": served.tier if served else None,
            "fallback": served.fell_back if served else False,
            "status": self.status,
            "latency_ms": round(elapsed * 1000, 1),
            "stream": self.stream,
            "upstream_dialect": self.upstream_dialect,
            "error": self._error_code(),
            "trail": [a.to_dict() for a in trail],
        }

    def _error_code(self) -> str | None:
        return self.error.code if self.error else self.error_code

    def _log(self, elapsed: float, trail: list[Attempt]) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        served = self.served
        fields = {
            "request_id": self.request_id,
            "method": self.method,
            "route": self.route,
            "model": self.model,
            "served_model": self.served_model,
            "provider": served.provider if served else None,
            "tier": served.tier if served else None,
            "attempts": len(served.attempts) if served else len(trail),
            "fallback": served.fell_back if served else False,
            "status": self.status,
            "error": self._error_code(),
            "left_out": self.left_out or None,
            "state": self.state,
            "upstream_dialect": self.upstream_dialect,
            "session": self.session[:12] if self.session else None,
            "client": self.charge.ticket.client if self.charge is not None else self.client,
            "latency_ms": round(elapsed * 1000, 1),
            "stream": self.stream,
            "cache": self.cache,
            "bytes": self.bytes,
            "pid": current_pid(),
        }
        log.info("request", extra={"fields": fields})
        if trail and log.isEnabledFor(logging.DEBUG):
            attempts = [a.to_dict() for a in trail]
            log.debug(
                "attempts", extra={"fields": {"request_id": self.request_id, "attempts": attempts}}
            )


class _EntryIds:
    """Names for recent entries, unique across processes: a random part drawn once per
    process (again after a fork), then a count (a fresh random name for each costs a
    system call and an encoding per request)."""

    def __init__(self) -> None:
        self._pid = -1
        self._prefix = ""
        self._count = itertools.count()

    def __call__(self) -> str:
        if self._pid != current_pid():
            self._pid, self._prefix = current_pid(), secrets.token_urlsafe(9)
        return f"{self._prefix}{next(self._count):x}"


_entry_id = _EntryIds()


def current() -> RequestRecord:
    """The record of the request being handled."""
    record: RequestRecord = g.record
    return record


#: Probes, scrapes and the console's own refreshes and files are not traffic: no record, no
#: metrics, no log line (gunicorn's access log still shows them).
UNRECORDED = frozenset(
    {"/", "/health", "/ready", "/metrics", "/console/ladder", "/console/static/<path:filename>"}
)


def _start() -> None:
    rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
    if rule in UNRECORDED:
        return
    labels = current_app.extensions[EXTENSION].model_labels
    g.record = RequestRecord(g.request_id, request.method, rule, labels)
    if request.method == "POST" and (rule.startswith("/v1/") or rule == "/console/try/send"):
        g.record.recent = current_app.extensions[EXTENSION].router.recent
    metrics.IN_FLIGHT.inc()


def _attach(response: Response) -> Response:
    record = g.get("record")
    if record is None:
        return response
    record.authenticated = bool(g.get("authenticated"))
    record.status = response.status_code
    if not record.stream:
        record.bytes = response.calculate_content_length() or 0
    response.call_on_close(record.finish)
    return response


def init_app(app: Flask) -> None:
    """Open a record for every request and close it with the response."""
    app.before_request(_start)
    app.after_request(_attach)
