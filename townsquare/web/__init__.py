"""The HTTP API (FastAPI, under /v1), the Bluesky feed generator endpoints, and the web app.

``create_app(settings)`` builds everything; nothing happens at import.
"""

from townsquare.web.app import create_app

__all__ = ["create_app"]
