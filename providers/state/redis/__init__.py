"""State in Redis, shared by every host."""
