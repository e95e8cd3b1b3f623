"""An offline demonstration of keyrelay's failover ladder (``make demo``)."""
