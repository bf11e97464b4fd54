"""The properties panel: editors built from each node type's pydantic properties model."""
