"""Declarative base shared by every model, with a constraint naming convention.

Named constraints matter twice: Alembic's batch mode on SQLite can only alter
constraints it can name, and stable names keep ``autogenerate`` diffs empty on both
backends. Every column carries a ``comment`` with its unit; on PostgreSQL the
migrations turn these into ``COMMENT ON``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, DateTime, MetaData, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Primary keys: BIGINT on PostgreSQL, INTEGER on SQLite (so that it is the rowid alias
#: and autoincrements).
BigIntPK = BigInteger().with_variant(sqlite.INTEGER(), "sqlite")

#: JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc = JSON().with_variant(postgresql.JSONB(), "postgresql")


class Base(DeclarativeBase):
    """Base class of all ClusterCat tables."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def created_at_column(comment: str = "time the row was written (UTC)") -> Mapped[dt.datetime]:
    """A ``created_at`` timestamp filled by the database."""
    return mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False, comment=comment
    )
