"""Service settings, read once from the environment (or a test's mapping) at start-up."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers import (
    ConfigError,
    RoutingConfig,
    env_float,
    env_int,
    env_list,
    env_str,
    load_routing_config,
)

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything ``create_app`` needs to build the service."""

    client_keys: tuple[str, ...] = field(repr=False)
    max_body_bytes: int
    log_level: str
    routing: RoutingConfig
    log_format: str = "json"
    metrics_key: str = field(default="", repr=False)
    #: ADMIN_API_KEY: reads /v1/usage (besides the client keys).
    admin_key: str = field(default="", repr=False)
    #: CLIENT_BODY_TIMEOUT: seconds a client has to send its whole request body.
    client_body_timeout: float = 30.0
    #: CLIENT_SEND_TIMEOUT: seconds one write to the client may wait for it to read.
    client_send_timeout: float = 30.0
    #: CONSOLE_SESSION_HOURS: how long a console sign-in lasts.
    console_session_hours: float = 12.0
    #: FORWARDED_ALLOW_IPS (gunicorn's own setting): the peers whose X-Forwarded-For names
    #: the client (``*``: any).
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")


def _pool_size(env: Mapping[str, str]) -> int:
    """Upstream connections to keep per provider: one per request a worker can run at once."""
    if env_str(env, "WORKER_CLASS", "gevent") == "gevent":
        return min(env_int(env, "WORKER_CONNECTIONS", 4096, minimum=1), 256)
    return env_int(env, "THREADS", 8, minimum=1)


def load_settings(env: Mapping[str, str]) -> Settings:
    """Read and validate every setting; raise ``ConfigError`` naming a bad variable."""
    level = env_str(env, "LOG_LEVEL", "INFO").upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ConfigError(f"LOG_LEVEL={level!r} is not a logging level")
    log_format = env_str(env, "LOG_FORMAT", "json").lower()
    if log_format not in {"json", "text"}:
        raise ConfigError(f"LOG_FORMAT={log_format!r} must be json or text")
    return Settings(
        log_format=log_format,
        metrics_key=env_str(env, "METRICS_API_KEY"),
        admin_key=env_str(env, "ADMIN_API_KEY"),
        client_keys=env_list(env, "PROXY_API_KEY"),
        max_body_bytes=env_int(env, "MAX_REQUEST_BODY_BYTES", DEFAULT_MAX_BODY_BYTES, minimum=1),
        log_level=level,
        client_body_timeout=env_float(env, "CLIENT_BODY_TIMEOUT", 30.0, minimum=0.1),
        client_send_timeout=env_float(env, "CLIENT_SEND_TIMEOUT", 30.0, minimum=0.1),
        console_session_hours=env_float(env, "CONSOLE_SESSION_HOURS", 12.0, minimum=0.01),
        forwarded_allow_ips=env_list(env, "FORWARDED_ALLOW_IPS") or ("127.0.0.1", "::1"),
        routing=load_routing_config(env, pool_maxsize=_pool_size(env)),
    )
