"""Per-project settings that staff change at run time (key → JSON value).

Known keys are listed in :mod:`engine.project_settings`; a missing row means the default.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String
from sqlalchemy.orm import Mapped, mapped_column

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base


class ProjectSetting(Base):
    __tablename__ = "project_settings"

    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
