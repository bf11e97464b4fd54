"""The engine's HTTP API (FastAPI) used by remote desktops: see :func:`create_app`."""

from engine.api.app import create_app

__all__ = ["create_app"]
