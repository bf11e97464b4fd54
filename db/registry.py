"""The workspace registry table: which projects exist and where their databases live.

The registry is a single small table in ``workspace.sqlite3``; it is created with
``create_all`` and versioned by SQLite's ``user_version`` rather than Alembic (see
REGISTRY_SCHEMA_VERSION), because it is local to one machine and changes rarely.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Integer, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.column_types import UTCDateTime, utcnow
from db.models.base import NAMING_CONVENTION, str_enum

REGISTRY_SCHEMA_VERSION = 1
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
