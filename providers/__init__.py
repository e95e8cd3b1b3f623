"""The outbound side of keyrelay: upstream adapters, key rotation and routing.

This package never imports flask: it can be used and tested without a web app. The
names below are its public face, the only ones ``app/`` may use (ruff enforces it,
``app/ruff.toml``). They load on first use, so that the configuration modules
(``providers.config.shape``, ``providers.config.audit``) can be read where ``requests`` must not be
imported yet: in gunicorn's master, before gevent patches the standard library.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from providers.state.contract import RecentStore as RecentStore
    from providers.state.contract import StateUnavailable as StateUnavailable
    from providers.state.contract import Tally as Tally
    from providers.state.memory.recent import MAX_RECENT as MAX_RECENT
    from providers.state.records import KeyStatus as KeyStatus

    from .alarm import ALARM as ALARM
    from .config.audit import ignored_variables as ignored_variables
    from .config.audit import is_placeholder as is_placeholder
    from .config.catalog import WireDialect as WireDialect
    from .config.env import ConfigError as ConfigError
    from .config.env import env_bool as env_bool
    from .config.env import env_float as env_float
    from .config.env import env_int as env_int
    from .config.env import env_list as env_list
    from .config.env import env_str as env_str
    from .config.env import parse_bool as parse_bool
    from .config.env import positive_int as positive_int
    from .config.load import load_routing_config as load_routing_config
    from .config.shape import ProviderConfig as ProviderConfig
    from .config.shape import RoutingConfig as RoutingConfig
    from .errors import CallerError as CallerError
    from .errors import ChainExhausted as ChainExhausted
    from .errors import ClientGone as ClientGone
    from .errors import ModelNotFound as ModelNotFound
    from .errors import ProviderError as ProviderError
    from .errors import StreamInterrupted as StreamInterrupted
    from .health.circuit import CircuitState as CircuitState
    from .health.keys import KeySnapshot as KeySnapshot
    from .health.model_lists import MAX_MODEL_NAME as MAX_MODEL_NAME
    from .options import CacheMode as CacheMode
    from .options import RouteOptions as RouteOptions
    from .outcomes import SKIPPED as SKIPPED
    from .outcomes import Outcome as Outcome
    from .routing.answers import Completion as Completion
    from .routing.attempts import Attempt as Attempt
    from .routing.attempts import Served as Served
    from .routing.native import NativeRelay as NativeRelay
    from .routing.native import NativeRequest as NativeRequest
    from .routing.payload import CACHE_HINT as CACHE_HINT
    from .routing.payload import OPTIONAL_HINT as OPTIONAL_HINT
    from .routing.payload import REASONING_HINT as REASONING_HINT
    from .routing.payload import OptionalField as OptionalField
    from .routing.relay import ChatStream as ChatStream
    from .routing.router import Router as Router
    from .secrets import fingerprint as fingerprint
    from .secrets import redact_url as redact_url
    from .status import ProviderStatus as ProviderStatus
    from .status import RouteStep as RouteStep
    from .upstream.jsonlimits import MAX_JSON_DEPTH as MAX_JSON_DEPTH
    from .upstream.jsonlimits import JSONTooDeep as JSONTooDeep
    from .upstream.jsonlimits import loads_bounded as loads_bounded
    from .upstream.native import FORWARDED_HEADERS as FORWARDED_HEADERS

_HOME = {
    "ALARM": "alarm",
    "Completion": "routing.answers",
    "Attempt": "routing.attempts",
    "Served": "routing.attempts",
    "ignored_variables": "config.audit",
    "is_placeholder": "config.audit",
    "CircuitState": "health.circuit",
    "ProviderConfig": "config.shape",
    "RoutingConfig": "config.shape",
    "load_routing_config": "config.load",
    "ConfigError": "config.env",
    "env_bool": "config.env",
    "env_float": "config.env",
    "env_int": "config.env",
    "env_list": "config.env",
    "env_str": "config.env",
    "parse_bool": "config.env",
    "positive_int": "config.env",
    "CallerError": "errors",
    "ChainExhausted": "errors",
    "ClientGone": "errors",
    "ModelNotFound": "errors",
    "ProviderError": "errors",
    "REASONING_HINT": "routing.payload",
    "OPTIONAL_HINT": "routing.payload",
    "CACHE_HINT": "routing.payload",
    "OptionalField": "routing.payload",
    "MAX_RECENT": "state.memory.recent",
    "RecentStore": "state.contract",
    "StateUnavailable": "state.contract",
    "Tally": "state.contract",
    "StreamInterrupted": "errors",
    "JSONTooDeep": "upstream.jsonlimits",
    "MAX_JSON_DEPTH": "upstream.jsonlimits",
    "loads_bounded": "upstream.jsonlimits",
    "KeySnapshot": "health.keys",
    "KeyStatus": "state.records",
    "MAX_MODEL_NAME": "health.model_lists",
    "CacheMode": "options",
    "RouteOptions": "options",
    "Outcome": "outcomes",
    "SKIPPED": "outcomes",
    "ChatStream": "routing.relay",
    "NativeRelay": "routing.native",
    "NativeRequest": "routing.native",
    "WireDialect": "config.catalog",
    "FORWARDED_HEADERS": "upstream.native",
    "Router": "routing.router",
    "fingerprint": "secrets",
    "redact_url": "secrets",
    "ProviderStatus": "status",
    "RouteStep": "status",
}

__all__ = [
    "ALARM",
    "CACHE_HINT",
    "FORWARDED_HEADERS",
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
    "NativeRelay",
    "NativeRequest",
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
    "WireDialect",
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
