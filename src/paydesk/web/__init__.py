"""HTTP: JSON API under /api/v1, agent console, customer portal, WebSockets."""
