"""Node type definitions, one module per category; the registry is ``graph.node_types``."""
