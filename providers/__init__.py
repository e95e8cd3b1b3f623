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
    from .clients.admin import ClientAdminError as ClientAdminError
    from .clients.admin import add_client as add_client
    from .clients.admin import edit_client as edit_client
    from .clients.admin import parse_expiry as parse_expiry
    from .clients.admin import revoke_client as revoke_client
    from .clients.admin import rotate_client as rotate_client
    from .clients.admin import set_client_limits as set_client_limits
    from .clients.gate import Caller as Caller
    from .clients.gate import ClientGate as ClientGate
    from .clients.gate import ClientRefused as ClientRefused
    from .clients.gate import Ticket as Ticket
    from .clients.records import PROXY_KEY_NAME as PROXY_KEY_NAME
    from .clients.records import ClientEntry as ClientEntry
    from .clients.records import ClientRecord as ClientRecord
    from .clients.records import Limits as Limits
    from .clients.records import Period as Period
    from .clients.secret import prefix_of as client_key_prefix
    from .clients.window import period_end as period_end
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
    from .process import current_pid as current_pid
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
    from .state.records import ClientUsageRow as ClientUsageRow
    from .status import ProviderStatus as ProviderStatus
    from .status import RouteStep as RouteStep
    from .upstream.jsonlimits import MAX_JSON_DEPTH as MAX_JSON_DEPTH
    from .upstream.jsonlimits import JSONTooDeep as JSONTooDeep
    from .upstream.jsonlimits import dumps as dumps_json
    from .upstream.jsonlimits import loads_bounded as loads_bounded
    from .upstream.native import FORWARDED_HEADERS as FORWARDED_HEADERS

_HOME = {
    "edit_client": "clients.admin",
    "parse_expiry": "clients.admin",
    "client_key_prefix": "clients.secret",
    "rotate_client": "clients.admin",
    "revoke_client": "clients.admin",
    "set_client_limits": "clients.admin",
    "add_client": "clients.admin",
    "Caller": "clients.gate",
    "ClientGate": "clients.gate",
    "ClientRefused": "clients.gate",
    "Ticket": "clients.gate",
    "ClientRecord": "clients.records",
    "ClientEntry": "clients.records",
    "Limits": "clients.records",
    "Period": "clients.records",
    "PROXY_KEY_NAME": "clients.records",
    "ClientAdminError": "clients.admin",
    "ClientUsageRow": "state.records",
    "period_end": "clients.window",
    "ALARM": "alarm",
    "current_pid": "process",
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
    "dumps_json": "upstream.jsonlimits",
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
    "PROXY_KEY_NAME",
    "REASONING_HINT",
    "SKIPPED",
    "Attempt",
    "CacheMode",
    "Caller",
    "CallerError",
    "ChainExhausted",
    "ChatStream",
    "CircuitState",
    "ClientAdminError",
    "ClientEntry",
    "ClientGate",
    "ClientGone",
    "ClientRecord",
    "ClientRefused",
    "ClientUsageRow",
    "Completion",
    "ConfigError",
    "JSONTooDeep",
    "KeySnapshot",
    "KeyStatus",
    "Limits",
    "ModelNotFound",
    "NativeRelay",
    "NativeRequest",
    "OptionalField",
    "Outcome",
    "Period",
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
    "Ticket",
    "WireDialect",
    "add_client",
    "client_key_prefix",
    "current_pid",
    "dumps_json",
    "edit_client",
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
    "parse_expiry",
    "period_end",
    "positive_int",
    "redact_url",
    "revoke_client",
    "rotate_client",
    "set_client_limits",
]


_ALIASES = {"client_key_prefix": "prefix_of", "dumps_json": "dumps"}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module 'providers' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), _ALIASES.get(name, name))
    globals()[name] = value
    return value
