"""The outbound side of keyrelay: upstream adapters, key rotation and routing.

This package never imports flask: it can be used and tested without a web app.
Its names load on first use, so that the configuration modules (``providers.config``,
``providers.audit``) can be read where ``requests`` must not be imported yet: in
gunicorn's master, before gevent patches the standard library in each worker.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .chain import Attempt as Attempt
    from .chain import Served as Served
    from .config import ConfigError as ConfigError
    from .config import ProviderConfig as ProviderConfig
    from .config import RoutingConfig as RoutingConfig
    from .config import load_routing_config as load_routing_config
    from .errors import ProviderError as ProviderError
    from .relay import ChatStream as ChatStream
    from .router import Completion as Completion
    from .router import Router as Router

_HOME = {
    "Attempt": "chain",
    "Served": "chain",
    "ConfigError": "config",
    "ProviderConfig": "config",
    "RoutingConfig": "config",
    "load_routing_config": "config",
    "ProviderError": "errors",
    "ChatStream": "relay",
    "Completion": "router",
    "Router": "router",
}

__all__ = [
    "Attempt",
    "ChatStream",
    "Completion",
    "ConfigError",
    "ProviderConfig",
    "ProviderError",
    "Router",
    "RoutingConfig",
    "Served",
    "load_routing_config",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
