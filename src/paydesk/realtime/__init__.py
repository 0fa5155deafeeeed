"""Live events: an in-process bus (embedded) and a Redis pub/sub bus (scale-out), one Protocol."""
