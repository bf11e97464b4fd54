"""Typed errors of the db package: each carries a one-line message fit for the CLI."""

from __future__ import annotations


class VoronkaDbError(Exception):
    """Base of every error raised on purpose by the db package (message: one line, for the CLI)."""


class WorkspaceError(VoronkaDbError):
    """A workspace or project operation cannot be carried out."""


class InvalidProjectNameError(WorkspaceError):
    """The project name breaks the naming rules (1–64 letters, digits, space, '-', '_')."""


class ProjectExistsError(WorkspaceError):
    """A project with the same name (case-insensitive) is already registered."""


class ProjectNotFoundError(WorkspaceError):
    """No project with the given name or slug is registered."""


class InvalidTimezoneError(WorkspaceError):
    """The time zone is not a known IANA zone name."""


class UnsupportedDatabaseUrlError(WorkspaceError):
    """The database URL is neither a PostgreSQL server URL nor otherwise usable."""


class DatabaseExistsError(WorkspaceError):
    """The per-project database to be created already exists on the server or on disk."""


class DatabaseServerError(WorkspaceError):
    """The PostgreSQL server could not be reached or refused an administrative command."""


class SecretKeyError(VoronkaDbError):
    """The encryption key is missing, malformed or stored insecurely."""


class SecretDecryptionError(VoronkaDbError):
    """A ciphertext cannot be decrypted with the configured key (wrong key or tampered)."""
