"""Provider and routing configuration: what every part of the outbound side is built from.

``providers.config.load`` reads these from environment variables (LLM-API-Key-Proxy's
names); each field's default here is the one default for that setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from providers.health.latency import AdaptivePolicy

from .catalog import CHAT_ONLY, CUSTOM_TIER

#: Where key state lives when STATE_URL is unset: a file shared by every worker of the host
#: and kept across restarts (relative to the working directory).
DEFAULT_STATE_URL = "sqlite:///.keyrelay/state.db"


@dataclass(frozen=True)
class ProviderConfig:
    """One upstream provider as configured."""

    name: str
    base_url: str
    keys: tuple[str, ...] = field(repr=False)
    models: tuple[str, ...] | None = None
    ignore: tuple[str, ...] = ()
    whitelist: tuple[str, ...] = ()
    embeddings: bool = True
    max_in_flight_per_key: int | None = None
    custom: bool = False
    #: 1 is tried first; PROVIDER_PRIORITY_<P> overrides the default.
    tier: int = CUSTOM_TIER
    #: The prefix clients use: the name itself, or "g4f" for every G4F endpoint.
    family: str = ""
    #: G4F endpoints: the model-name patterns this endpoint is chosen for.
    routes: tuple[str, ...] = ()
    #: Serves any model id (G4F): no model list is fetched.
    serves_any: bool = False
    #: Ask for usage on every stream (``stream_options.include_usage``), for accounting.
    stream_usage: bool = False
    #: Takes ``reasoning_effort`` (a translated dialect's thinking hint is sent as it).
    reasoning_effort: bool = False
    #: Takes system messages anywhere (else they are merged into one leading message).
    system_anywhere: bool = True
    #: Optional OpenAI fields it takes (``payload.OptionalField``): a translated request's
    #: ``prompt_cache_key`` or ``verbosity`` goes only where it is taken.
    optional_fields: frozenset[str] = frozenset()
    #: The dialects it speaks natively (``catalog.WireDialect``; ``<P>_DIALECTS``).
    dialects: frozenset[str] = CHAT_ONLY
    #: Whose authentication its model list takes (``messages``: ``x-api-key``).
    models_auth: str = "chat"
    #: Takes ``cache_control`` on chat content parts (OpenRouter; ``<P>_CACHE_CONTROL``).
    cache_control: bool = False
    #: ROTATION_MODE_<P> (else ROTATION_MODE): ``balanced`` or ``sequential``.
    rotation: str = "balanced"
    #: Many backends behind one URL (G4F, or <P>_AGGREGATOR=true): failures count per model.
    aggregator: bool = False
    #: The first-byte timeout of an aggregator (G4F_TIMEOUT_FIRST_BYTE), under TIMEOUT_READ.
    first_byte_timeout: float | None = None

    @property
    def prefix(self) -> str:
        """The ``prefix/`` clients put before this provider's model ids."""
        return self.family or self.name


@dataclass(frozen=True)
class RoutingConfig:
    """Everything the outbound side needs: providers, timeouts and key policy."""

    providers: tuple[ProviderConfig, ...]
    timeout_connect: float = 5.0
    timeout_read: float = 120.0
    request_deadline: float = 300.0
    models_cache_ttl: float = 600.0
    models_fetch_timeout: float = 5.0
    rate_limit_cooldown: float = 10.0
    max_cooldown: float = 86400.0
    auth_failure_cooldown: float = 21600.0
    quota_cooldown: float = 3600.0
    pool_maxsize: int = 10
    #: MODEL_GROUP_<NAME>: an exact, ordered chain of provider/model entries.
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    fallback_enabled: bool = True
    #: CIRCUIT_FAILURE_THRESHOLD: connection failures in a row that open a circuit at once.
    circuit_failures: int = 3
    #: CIRCUIT_FAILURE_RATE: the share of failed calls in a window that opens a circuit...
    circuit_failure_rate: float = 0.5
    #: CIRCUIT_MIN_CALLS: ...once the window holds at least this many calls.
    circuit_min_calls: int = 10
    #: CIRCUIT_WINDOW_SECONDS: the window, from its first failure.
    circuit_window_seconds: float = 60.0
    circuit_open_seconds: float = 30.0
    circuit_max_open_seconds: float = 600.0
    not_found_ttl: float = 600.0
    #: CACHE_TTL_SECONDS: 0 turns the response cache off.
    cache_ttl: float = 0.0
    cache_max_entries: int = 1000
    #: CACHE_MAX_BYTES: the cache's size bound, counted as the stored answers' JSON.
    cache_max_bytes: int = 64 * 1024 * 1024
    #: CACHE_SHARED: one client key's cached answers may serve another's.
    cache_shared: bool = False
    #: G4F_ALLOWED_FIELDS: G4F control fields clients may send (never a URL).
    g4f_allowed_fields: tuple[str, ...] = ()
    #: G4F_STRICT_MODEL: an answer from another model than asked is that attempt's failure.
    g4f_strict_model: bool = False
    max_response_bytes: int = 32 * 1024 * 1024
    max_event_bytes: int = 4 * 1024 * 1024
    adaptive: AdaptivePolicy = field(default_factory=AdaptivePolicy)
    #: STATE_URL: where key state lives (memory:// per process, sqlite:///path per host,
    #: redis://host:port/db per fleet). A config built in code keeps it in the process; the
    #: service's default, when STATE_URL is unset, is ``DEFAULT_STATE_URL``.
    state_url: str = "memory://"
    #: STATE_TIMEOUT: the longest a request waits on the state store, in seconds.
    state_timeout: float = 0.1
    #: USAGE_RETENTION_DAYS: how long per-key usage is kept.
    usage_retention_days: int = 90
    #: SESSION_AFFINITY: a session's next turn goes to the provider and key of its last.
    session_affinity: bool = True
    #: SESSION_IDLE_SECONDS: a session unseen for this long is pinned nowhere (providers
    #: keep prompt caches 5 to 60 minutes).
    session_idle_seconds: float = 600.0
    #: CLIENT_KEY_SECRET: the key of the hash client keys are kept as ("": a fixed one).
    client_key_secret: str = field(default="", repr=False)
    #: MODEL_PRICES: ``model=input/cached/output[/output limit],...`` over the shipped table.
    model_prices: str = ""
