"""Key pools, circuits, per-model health, adaptive latency and model catalogs."""
