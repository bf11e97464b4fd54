"""The funnel model: node type catalogue, funnel documents, validation, copy/remap.

Pure Python (pydantic only): no Qt, no SQLAlchemy, no network. Import from the modules
(``graph.node_types``, ``graph.document``, ``graph.loading``, ``graph.validation``,
``graph.copying``, ``graph.demo``); this package file stays empty so importing one part
does not load the rest.
"""
