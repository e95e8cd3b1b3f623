"""OpenAI Responses: request and items to chat, tools and calls, whole answer and events."""
