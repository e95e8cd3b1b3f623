"""Prometheus metrics, summed over every gunicorn worker (prometheus_client multiprocess mode).

``gunicorn.conf.py`` points ``PROMETHEUS_MULTIPROC_DIR`` at a clean directory before
the workers start; each worker writes its samples there and ``/metrics`` reads
them all. Without that variable (tests, ``flask run``) the process's own registry
is served. Label values are provider names, tiers, routes, model names clients
asked for, outcomes and statuses: never keys, never client identities.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from flask import Blueprint, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client import values as prometheus_values
from providers import SKIPPED, Attempt, CircuitState, Outcome, Router, current_pid

from app.auth import key_matches, presented_key
from app.errors import error_body, error_response
from app.gateway import gateway

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    # Each value checks the process id on every change (a forked worker writes its own
    # file): about twenty system calls a request, unless it is asked without one.
    multiprocess_value: Any = prometheus_values.MultiProcessValue
    prometheus_values.ValueClass = multiprocess_value(current_pid)

#: LLM calls take from milliseconds (errors, cache) to minutes (long streams).
UPSTREAM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1)
#: How often each worker republishes its key and circuit gauges.
GAUGE_REFRESH_SECONDS = 5.0

REQUESTS = Counter(
    "keyrelay_requests_total",
    "Requests by route, model asked and final status.",
    ["route", "model", "status"],
)
ATTEMPTS = Counter(
    "keyrelay_upstream_attempts_total",
    "Upstream attempts by provider, tier and outcome.",
    ["provider", "tier", "outcome"],
)
FALLBACKS = Counter(
    "keyrelay_fallbacks_total",
    "Requests served by another provider than the first candidate, by tier.",
    ["from_tier", "to_tier"],
)
UPSTREAM_LATENCY = Histogram(
    "keyrelay_upstream_latency_seconds",
    "Upstream attempt duration (a served stream: until it ended).",
    ["provider", "tier"],
    buckets=UPSTREAM_BUCKETS,
)
TTFT = Histogram(
    "keyrelay_upstream_ttft_seconds",
    "Time to the first output of a successful attempt (whole answers: the answer).",
    ["provider", "tier"],
    buckets=UPSTREAM_BUCKETS,
)
OVERHEAD = Histogram(
    "keyrelay_proxy_overhead_seconds",
    "Time spent in keyrelay itself until the answer started, upstream time excluded.",
    ["route"],
    buckets=OVERHEAD_BUCKETS,
)
IN_FLIGHT = Gauge(
    "keyrelay_requests_in_flight", "Requests being served.", multiprocess_mode="livesum"
)
OPEN_STREAMS = Gauge("keyrelay_open_streams", "Streams being relayed.", multiprocess_mode="livesum")
STREAM_ERRORS = Counter(
    "keyrelay_stream_errors_total",
    "Streams that ended in an error event after the commit point.",
    ["provider", "tier"],
)
CACHE = Counter("keyrelay_cache_total", "Response cache lookups: hit, miss or bypass.", ["result"])
PROMPT_TOKENS = Counter(
    "keyrelay_prompt_tokens_total", "Prompt tokens the upstreams reported.", ["provider"]
)
CACHED_TOKENS = Counter(
    "keyrelay_cached_prompt_tokens_total",
    "Prompt tokens the upstreams read from their prompt caches (the cached share: this over "
    "keyrelay_prompt_tokens_total).",
    ["provider"],
)


def count_tokens(provider: str, prompt: int, cached: int) -> None:
    """Count an answer's prompt tokens and the share read from a cache, per provider."""
    child(PROMPT_TOKENS, provider).inc(prompt)
    child(CACHED_TOKENS, provider).inc(cached)


# Client key names come from the records (the operator's), never from requests.
CLIENT_REQUESTS = Counter(
    "keyrelay_client_requests_total", "Requests admitted and settled, per client key.", ["client"]
)
CLIENT_TOKENS = Counter(
    "keyrelay_client_tokens_total", "Tokens the upstreams reported, per client key.", ["client"]
)
CLIENT_COST = Counter(
    "keyrelay_client_cost_dollars_total",
    "What the requests of each client key cost, in US dollars (by the price table).",
    ["client"],
)
CLIENT_REFUSALS = Counter(
    "keyrelay_client_refusals_total",
    "Requests refused before any upstream was called, per client key and reason.",
    ["client", "reason"],
)


def count_client(client: str, tokens: tuple[int, int, int, int] | None, cost: float) -> None:
    """Count one settled request of ``client``: its tokens and what it cost."""
    child(CLIENT_REQUESTS, client).inc()
    if tokens is not None:
        child(CLIENT_TOKENS, client).inc(tokens[2])
    if cost:
        child(CLIENT_COST, client).inc(cost)


KEYS = Gauge(
    "keyrelay_keys",
    "Keys by state, as each worker sees them.",
    ["provider", "tier", "state"],
    multiprocess_mode="liveall",
)
CIRCUIT = Gauge(
    "keyrelay_circuit_state",
    "Circuit per provider: 0 closed, 1 half-open, 2 open.",
    ["provider", "tier"],
    multiprocess_mode="liveall",
)
ADAPTIVE_TIMEOUT = Gauge(
    "keyrelay_adaptive_timeout_seconds",
    "The first-byte timeout each worker uses per provider and mode (stream, whole).",
    ["provider", "tier", "mode"],
    multiprocess_mode="liveall",
)
STATE_STORE_UP = Gauge(
    "keyrelay_state_store_up",
    "1 while the shared state store answers (STATE_URL), 0 while local state stands in.",
    multiprocess_mode="liveall",
)
STATE_STORE_SECONDS = Histogram(
    "keyrelay_state_store_seconds",
    "How long each key-state call to the shared state store took (STATE_URL).",
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25),
)
_CIRCUIT_VALUES = {CircuitState.CLOSED: 0, CircuitState.HALF_OPEN: 1, CircuitState.OPEN: 2}
bp = Blueprint("metrics", __name__)


#: Label sets to their children, across every metric (label values are bounded already).
_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}
MAX_CHILDREN = 50_000


def child(metric: Any, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per label set (prometheus_client checks
    the values and takes a lock on every call)."""
    key = (id(metric), values)
    found = _CHILDREN.get(key)
    if found is None:
        if len(_CHILDREN) >= MAX_CHILDREN:
            _CHILDREN.clear()
        found = _CHILDREN[key] = metric.labels(*values)
    return found


def record_attempts(entries: list[Attempt]) -> None:
    """Count each attempt of a trail and observe its duration."""
    for attempt in entries:
        if attempt.outcome.startswith(SKIPPED):
            continue
        labels = (attempt.provider, str(attempt.tier))
        child(ATTEMPTS, *labels, attempt.outcome).inc()
        if attempt.outcome == Outcome.SUCCESS:
            child(TTFT, *labels).observe(attempt.seconds)
        else:
            child(UPSTREAM_LATENCY, *labels).observe(attempt.seconds)


def publish_router_state(router: Router) -> None:
    """Set this worker's key and circuit gauges from the router's current state."""
    STATE_STORE_UP.set(0 if router.state_health == "degraded" else 1)
    for status in router.status():
        tier = str(status.tier)
        for state, count in status.counts.items():
            KEYS.labels(status.provider, tier, state).set(count)
        circuit = _CIRCUIT_VALUES[CircuitState(status.circuit)]
        CIRCUIT.labels(status.provider, tier).set(circuit)
        for mode, state in status.adaptive_timeout.items():
            ADAPTIVE_TIMEOUT.labels(status.provider, tier, mode).set(state["timeout"])


class GaugeTicker:
    """Republishes the gauges every few seconds: a cooldown ends without any event."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self._pid = 0
        self._lock = threading.Lock()

    def ensure_running(self) -> None:
        """Start the ticker in this process (once per worker, never in gunicorn's master)."""
        if self._pid == current_pid():
            return
        with self._lock:
            if self._pid != current_pid():
                self._pid = current_pid()
                threading.Thread(target=self._run, name="keyrelay-gauges", daemon=True).start()

    def _run(self) -> None:
        while True:
            publish_router_state(self._router)
            time.sleep(GAUGE_REFRESH_SECONDS)


def _authorized() -> bool:
    expected = gateway().settings.metrics_key
    return not expected or key_matches(presented_key(), (expected,))


@bp.get("/metrics")
def metrics() -> Response:
    """The Prometheus text exposition of every worker's metrics."""
    if not _authorized():
        body = error_body(
            "A valid METRICS_API_KEY is required.", "invalid_request_error", code="invalid_api_key"
        )
        return error_response(401, body)
    publish_router_state(gateway().router)
    registry: Any = REGISTRY
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
