"""Routers of the engine API, one module per area."""
