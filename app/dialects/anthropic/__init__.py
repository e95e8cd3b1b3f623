"""Anthropic Messages: schema, request to chat, whole answer and events, error shape."""
