"""Persistence: the workspace (project registry), one database per project, models, secrets.

Entry points: ``db.workspace.Workspace``, ``db.project_database.ProjectDatabase``,
``db.models`` (tables), ``db.secrets.load_secret_box``, ``db.errors`` (typed errors).
"""
