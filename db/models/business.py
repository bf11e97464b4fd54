"""Products, purchases (R11) and personal links bound to a contact and a product (R8)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from db.column_types import UTCDateTime, utcnow
from db.models.base import Base, created_at_column, id_column
from db.models.contacts import Contact


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = id_column()
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = created_at_column()


class Purchase(Base):
    """A purchase, recorded when the contact arrives in the paid bot (not at trigger time)."""

    __tablename__ = "purchases"
    __table_args__ = (
        Index("ix_purchases_recorded_at", "recorded_at"),
        Index("ix_purchases_contact_product", "contact_id", "product_id"),
    )

    id: Mapped[int] = id_column()
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="RESTRICT")
    )
    product_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="RESTRICT"), index=True
    )
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str | None] = mapped_column(String(3))  # ISO 4217, e.g. "RUB"
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL")
    )
    channel_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="SET NULL")
    )

    contact: Mapped[Contact] = relationship()
    product: Mapped[Product] = relationship()


class PersonalLink(Base):
    """A deep-link token that only its contact may use; anyone else gets nothing (R8)."""

    __tablename__ = "personal_links"

    id: Mapped[int] = id_column()
    token: Mapped[str] = mapped_column(String(64), unique=True)
    contact_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    product_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("products.id", ondelete="RESTRICT")
    )
    target_channel_id: Mapped[int] = mapped_column(
        BigInteger, ForeignKey("channels.id", ondelete="RESTRICT")
    )
    created_by_run_id: Mapped[int | None] = mapped_column(
        BigInteger, ForeignKey("runs.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = created_at_column()
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    chat_id: Mapped[int | None] = mapped_column(BigInteger)
    """A registered one-person invite link: the chat it opens (None: a deep-link token)."""

    contact: Mapped[Contact] = relationship()
    product: Mapped[Product | None] = relationship()
