"""The individual checks behind ``graph.validation.validate_funnel``."""
