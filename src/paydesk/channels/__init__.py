"""Channels: each a pure parser (bytes/JSON → InboundMessage) plus a transport that moves bytes."""
