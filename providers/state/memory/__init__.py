"""State in this process: every kind of the contract, with the same rules as the shared stores."""
