"""The workspace registry table: which projects exist and where their databases live.

The registry is a single small table in ``workspace.sqlite3``; it is created with
``create_all`` and versioned by SQLite's ``user_version`` rather than Alembic (see
REGISTRY_SCHEMA_VERSION), because it is local to one machine and changes rarely.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, ForeignKey, Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.column_types import UTCDateTime, utcnow
from db.models.base import NAMING_CONVENTION, str_enum

REGISTRY_SCHEMA_VERSION = 2
"""1: projects. 2: staff_users and api_tokens (the engine API's users, db.staff)."""
DEFAULT_TIMEZONE = "Europe/Moscow"


class DatabaseKind(enum.StrEnum):
    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


class RegistryBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProjectRecord(RegistryBase):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(String(64), unique=True)  # casefolded name
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    database_kind: Mapped[DatabaseKind] = mapped_column(str_enum(DatabaseKind, "database_kind"))
    # SQLite: path relative to the workspace directory (the workspace can be moved);
    # PostgreSQL: the full asyncpg URL of the project's own database.
    database_location: Mapped[str] = mapped_column(Text)
    timezone: Mapped[str] = mapped_column(String(64), default=DEFAULT_TIMEZONE)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffRole(enum.StrEnum):
    """admin: projects, bots, accounts, users; editor: funnels, contacts; viewer: read-only."""

    ADMIN = "admin"
    EDITOR = "editor"
    VIEWER = "viewer"


class StaffUserRecord(RegistryBase):
    """A person who may use the engine API (db.staff); the password is a scrypt hash."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    login: Mapped[str] = mapped_column(String(64))
    login_key: Mapped[str] = mapped_column(String(64), unique=True)  # casefolded login
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole, "staff_role"))
    # Project ids this user may open; NULL = every project (present and future).
    project_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiTokenRecord(RegistryBase):
    """A bearer token of a staff user: only its SHA-256 is stored (shown once on creation)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def _upgrade_1_to_2(connection: Connection) -> None:
    """staff_users and api_tokens are new tables: ``create_all`` (run after the upgrade
    steps) creates them; nothing existing changes."""


REGISTRY_UPGRADES: dict[int, Callable[[Connection], Any]] = {1: _upgrade_1_to_2}
"""``REGISTRY_UPGRADES[n]`` brings a version-n registry to n+1 (before ``create_all``)."""


def upgrade_registry(connection: Connection, version: int) -> None:
    """Run the upgrade steps from ``version`` (0 = a new file) to REGISTRY_SCHEMA_VERSION."""
    if version == 0:
        return
    while version < REGISTRY_SCHEMA_VERSION:
        REGISTRY_UPGRADES[version](connection)
        version += 1
