"""Where state lives: the contract, this process, the state file and Redis."""
