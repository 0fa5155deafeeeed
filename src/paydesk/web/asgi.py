"""ASGI entry point for `uvicorn paydesk.web.asgi:app` (used by `paydesk serve --workers N`)."""

from paydesk.web.app import create_app

app = create_app()
# a long-running server: its long-lived data is frozen out of full collections (domain/heap.py)
app.state.settle_heap = True
