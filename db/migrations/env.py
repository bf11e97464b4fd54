"""Alembic environment for project databases.

There is no alembic.ini: db.migrate builds the Alembic Config in code and hands over an open
connection in ``config.attributes["connection"]``. See db/migrations/README.md.
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy.engine import Connection

import db.models
from db.column_types import UTCDateTime

target_metadata = db.models.Base.metadata


def render_item(type_: str, obj: Any, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render our UTCDateTime as a plain timestamptz so migrations never import app types."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode for ALTER; harmless on PostgreSQL
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    if context.is_offline_mode():
        raise RuntimeError("offline (SQL script) migrations are not supported; see README.md")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError(
            "db/migrations is run from code: use db.migrate (python -m db.migrate --help)"
        )
    configure_and_run(connection)


run()
