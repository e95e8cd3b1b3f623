"""The built-in providers: OpenAI-compatible base URLs and what each endpoint offers."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class KnownProvider:
    """A provider keyrelay knows by name."""

    name: str
    base_url: str
    embeddings: bool


#: Every provider a ``<P>_API_KEY`` variable can enable without declaring a base URL.
KNOWN_PROVIDERS: dict[str, KnownProvider] = {
    p.name: p
    for p in (
        KnownProvider("openai", "https://api.openai.com/v1", embeddings=True),
        KnownProvider("groq", "https://api.groq.com/openai/v1", embeddings=False),
        KnownProvider("openrouter", "https://openrouter.ai/api/v1", embeddings=False),
        KnownProvider(
            "gemini", "https://generativelanguage.googleapis.com/v1beta/openai", embeddings=True
        ),
        KnownProvider("mistral", "https://api.mistral.ai/v1", embeddings=True),
        KnownProvider("xai", "https://api.x.ai/v1", embeddings=False),
        KnownProvider("nvidia", "https://integrate.api.nvidia.com/v1", embeddings=True),
        KnownProvider("deepseek", "https://api.deepseek.com/v1", embeddings=False),
        KnownProvider("together", "https://api.together.xyz/v1", embeddings=True),
        KnownProvider("cerebras", "https://api.cerebras.ai/v1", embeddings=False),
    )
}
