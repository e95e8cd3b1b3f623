"""The outbound side of keyrelay: upstream adapters, key rotation and routing.

This package never imports flask: it can be used and tested without a web app. The
names below are its public face, the only ones ``app/`` may use (ruff enforces it,
``app/ruff.toml``). They load on first use, so that the configuration modules
(``providers.config``, ``providers.audit``) can be read where ``requests`` must not be
imported yet: in gunicorn's master, before gevent patches the standard library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .alarm import ALARM as ALARM
    from .answers import Completion as Completion
    from .attempts import Attempt as Attempt
    from .attempts import Served as Served
    from .audit import ignored_variables as ignored_variables
    from .audit import is_placeholder as is_placeholder
    from .circuit import CircuitState as CircuitState
    from .config import ProviderConfig as ProviderConfig
    from .config import RoutingConfig as RoutingConfig
    from .env import ConfigError as ConfigError
    from .env import env_bool as env_bool
    from .env import env_float as env_float
    from .env import env_int as env_int
    from .env import env_list as env_list
    from .env import env_str as env_str
    from .env import parse_bool as parse_bool
    from .env import positive_int as positive_int
    from .errors import CallerError as CallerError
    from .errors import ChainExhausted as ChainExhausted
    from .errors import ClientGone as ClientGone
    from .errors import ModelNotFound as ModelNotFound
    from .errors import ProviderError as ProviderError
    from .errors import StreamInterrupted as StreamInterrupted
    from .jsonlimits import MAX_JSON_DEPTH as MAX_JSON_DEPTH
    from .jsonlimits import JSONTooDeep as JSONTooDeep
    from .jsonlimits import loads_bounded as loads_bounded
    from .keys import KeySnapshot as KeySnapshot
    from .keystore import KeyStatus as KeyStatus
    from .keystore import StateUnavailable as StateUnavailable
    from .models import MAX_MODEL_NAME as MAX_MODEL_NAME
    from .options import CacheMode as CacheMode
    from .options import RouteOptions as RouteOptions
    from .outcomes import SKIPPED as SKIPPED
    from .outcomes import Outcome as Outcome
    from .payload import OPTIONAL_HINT as OPTIONAL_HINT
    from .payload import REASONING_HINT as REASONING_HINT
    from .payload import OptionalField as OptionalField
    from .recent import MAX_RECENT as MAX_RECENT
    from .recent import RecentStore as RecentStore
    from .relay import ChatStream as ChatStream
    from .router import Router as Router
    from .secrets import fingerprint as fingerprint
    from .secrets import redact_url as redact_url
    from .settings import load_routing_config as load_routing_config
    from .status import ProviderStatus as ProviderStatus
    from .status import RouteStep as RouteStep
    from .tally import Tally as Tally

_HOME = {
    "ALARM": "alarm",
    "Completion": "answers",
    "Attempt": "attempts",
    "Served": "attempts",
    "ignored_variables": "audit",
    "is_placeholder": "audit",
    "CircuitState": "circuit",
    "ProviderConfig": "config",
    "RoutingConfig": "config",
    "load_routing_config": "settings",
    "ConfigError": "env",
    "env_bool": "env",
    "env_float": "env",
    "env_int": "env",
    "env_list": "env",
    "env_str": "env",
    "parse_bool": "env",
    "positive_int": "env",
    "CallerError": "errors",
    "ChainExhausted": "errors",
    "ClientGone": "errors",
    "ModelNotFound": "errors",
    "ProviderError": "errors",
    "REASONING_HINT": "payload",
    "OPTIONAL_HINT": "payload",
    "OptionalField": "payload",
    "MAX_RECENT": "recent",
    "RecentStore": "recent",
    "StateUnavailable": "keystore",
    "Tally": "tally",
    "StreamInterrupted": "errors",
    "JSONTooDeep": "jsonlimits",
    "MAX_JSON_DEPTH": "jsonlimits",
    "loads_bounded": "jsonlimits",
    "KeySnapshot": "keys",
    "KeyStatus": "keystore",
    "MAX_MODEL_NAME": "models",
    "CacheMode": "options",
    "RouteOptions": "options",
    "Outcome": "outcomes",
    "SKIPPED": "outcomes",
    "ChatStream": "relay",
    "Router": "router",
    "fingerprint": "secrets",
    "redact_url": "secrets",
    "ProviderStatus": "status",
    "RouteStep": "status",
}

__all__ = [
    "ALARM",
    "MAX_JSON_DEPTH",
    "MAX_MODEL_NAME",
    "MAX_RECENT",
    "OPTIONAL_HINT",
    "REASONING_HINT",
    "SKIPPED",
    "Attempt",
    "CacheMode",
    "CallerError",
    "ChainExhausted",
    "ChatStream",
    "CircuitState",
    "ClientGone",
    "Completion",
    "ConfigError",
    "JSONTooDeep",
    "KeySnapshot",
    "KeyStatus",
    "ModelNotFound",
    "OptionalField",
    "Outcome",
    "ProviderConfig",
    "ProviderError",
    "ProviderStatus",
    "RecentStore",
    "RouteOptions",
    "RouteStep",
    "Router",
    "RoutingConfig",
    "Served",
    "StateUnavailable",
    "StreamInterrupted",
    "Tally",
    "env_bool",
    "env_float",
    "env_int",
    "env_list",
    "env_str",
    "fingerprint",
    "ignored_variables",
    "is_placeholder",
    "load_routing_config",
    "loads_bounded",
    "parse_bool",
    "positive_int",
    "redact_url",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
