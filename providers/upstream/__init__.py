"""Talking to upstreams: sessions, SSE, deadlines, and their outcomes as errors."""
