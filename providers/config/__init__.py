"""What the outbound side is built from: the shape, the environment, the catalog."""
