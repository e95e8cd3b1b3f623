"""The outbound side of keyrelay: upstream adapters, key rotation and routing.

This package never imports flask: it can be used and tested without a web app.
"""

from .chain import Attempt, Served
from .config import ConfigError, ProviderConfig, RoutingConfig, load_routing_config
from .errors import ProviderError
from .relay import ChatStream
from .router import Completion, Router

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
