"""Alembic environment: runs migrations on the connection it is given, or on $MULTITUDE_DB."""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine

from ledger.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = os.environ.get("MULTITUDE_DB", "sqlite:///multitude.db")
    engine = create_engine(url)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
