"""The client dialects (chat, Anthropic Messages, OpenAI Responses); shared SSE and serving."""
