"""Background jobs: thin handlers, ids in, one service call."""
