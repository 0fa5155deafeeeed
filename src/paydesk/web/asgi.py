"""ASGI entry point for `uvicorn paydesk.web.asgi:app` (used by `paydesk serve --workers N`)."""

from paydesk.web.app import create_app

app = create_app()
