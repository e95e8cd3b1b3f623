"""Chat completions, the internal shape: the request schema (its answer is the upstream's)."""
