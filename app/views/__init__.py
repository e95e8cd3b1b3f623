"""One blueprint module per route family."""
