"""The built-in providers: OpenAI-compatible base URLs, default tiers, and what each offers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OptionalField(StrEnum):
    """Optional OpenAI request fields a provider may declare it takes."""

    PROMPT_CACHE_KEY = "prompt_cache_key"
    VERBOSITY = "verbosity"


class WireDialect(StrEnum):
    """The request dialects an upstream can speak (``<P>_DIALECTS``)."""

    #: OpenAI chat completions (``POST /chat/completions``): every built-in speaks it.
    CHAT = "chat"
    #: Anthropic Messages (``POST /messages``, ``x-api-key``, ``anthropic-version``).
    MESSAGES = "messages"
    #: OpenAI Responses (``POST /responses``).
    RESPONSES = "responses"


class Rotation(StrEnum):
    """How a provider's keys take turns (``ROTATION_MODE_<P>``, LLM-API-Key-Proxy's words)."""

    #: The least busy, least recently used key; a session's turns stay on their key.
    BALANCED = "balanced"
    #: One key until it is blocked or at its cap, then the next, in the order configured
    #: (for providers that cache prompts per key).
    SEQUENTIAL = "sequential"


#: What a provider speaks when nothing says otherwise.
CHAT_ONLY = frozenset({WireDialect.CHAT})


@dataclass(frozen=True)
class KnownProvider:
    """A provider keyrelay knows by name."""

    name: str
    base_url: str
    tier: int
    embeddings: bool
    #: Accepts ``stream_options.include_usage``: keyrelay asks for usage on every stream.
    stream_usage: bool = False
    #: Accepts ``reasoning_effort`` on every model (a translated thinking hint is sent).
    reasoning_effort: bool = False
    #: Takes system messages anywhere in the conversation; if not, they are merged into one
    #: leading system message before it is sent.
    system_anywhere: bool = True
    #: Optional OpenAI request fields it takes (``OptionalField``); translated requests
    #: send them only where they are taken.
    optional_fields: frozenset[OptionalField] = frozenset()
    #: The dialects it speaks natively: a request in one of them goes as the client sent it.
    dialects: frozenset[WireDialect] = CHAT_ONLY
    #: Whose authentication its model list (``GET /models``) takes.
    models_auth: WireDialect = WireDialect.CHAT
    #: Takes Anthropic's ``cache_control`` on chat content parts (prompt-cache breakpoints).
    cache_control: bool = False


#: Every provider a ``<P>_API_KEY`` variable can enable without declaring a base URL.
KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    p.name: p
    for p in (
        KnownProvider(
            "openai",
            "https://api.openai.com/v1",
            1,
            embeddings=True,
            stream_usage=True,
            reasoning_effort=True,
            optional_fields=frozenset(OptionalField),
            dialects=frozenset({WireDialect.CHAT, WireDialect.RESPONSES}),
        ),
        KnownProvider(
            "anthropic",
            "https://api.anthropic.com/v1",
            1,
            embeddings=False,
            # chat: its OpenAI-compatibility endpoint, for chat completions requests only.
            dialects=frozenset({WireDialect.CHAT, WireDialect.MESSAGES}),
            models_auth=WireDialect.MESSAGES,
        ),
        KnownProvider(
            "groq", "https://api.groq.com/openai/v1", 2, embeddings=False, stream_usage=True
        ),
        KnownProvider(
            "openrouter",
            "https://openrouter.ai/api/v1",
            2,
            embeddings=False,
            stream_usage=True,
            cache_control=True,
        ),
        KnownProvider(
            "cerebras", "https://api.cerebras.ai/v1", 2, embeddings=False, stream_usage=True
        ),
        KnownProvider(
            "gemini",
            "https://generativelanguage.googleapis.com/v1beta/openai",
            3,
            embeddings=True,
            reasoning_effort=True,
            system_anywhere=False,
        ),
        KnownProvider(
            "mistral", "https://api.mistral.ai/v1", 3, embeddings=True, system_anywhere=False
        ),
        KnownProvider(
            "xai",
            "https://api.x.ai/v1",
            3,
            embeddings=False,
            stream_usage=True,
        ),
        KnownProvider("nvidia", "https://integrate.api.nvidia.com/v1", 3, embeddings=True),
        KnownProvider(
            "deepseek", "https://api.deepseek.com/v1", 3, embeddings=False, stream_usage=True
        ),
        KnownProvider(
            "together", "https://api.together.xyz/v1", 3, embeddings=True, stream_usage=True
        ),
    )
}

#: The tier of a custom provider declared with ``<P>_API_BASE``.
CUSTOM_TIER = 10

#: The name clients use for the G4F endpoints: ``g4f/<model>``.
G4F = "g4f"
#: The default tier of every G4F endpoint (``PROVIDER_PRIORITY_G4F`` overrides it).
G4F_TIER = 5
#: G4F endpoints by their variable part (``G4F_<PART>_API_BASE``), the specific ones first.
G4F_ENDPOINTS = ("grok", "gemini", "nvidia", "groq", "main")
#: Default model-name patterns (case-insensitive substrings) of each specific G4F endpoint,
#: checked in this order: ``meta/llama-...`` is NVIDIA's, a plain ``llama-...`` is Groq's.
G4F_DEFAULT_ROUTES: dict[str, tuple[str, ...]] = {
    "grok": ("grok",),
    "gemini": ("gemini",),
    "nvidia": ("nvidia", "nemotron", "meta/", "deepseek-ai/", "mistralai/"),
    "groq": ("llama", "mixtral", "gemma", "gpt-oss", "kimi", "groq"),
}
