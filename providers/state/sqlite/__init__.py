"""State in the host's SQLite state file."""
