"""Product documentation: fetched or uploaded documents and their embedded chunks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin

BigId = BigInteger().with_variant(Integer(), "sqlite")


class KnowledgeDocument(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (Index("ix_kdocs_product", "tenant_id", "product_id"),)

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    vector_store_id: Mapped[str] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(Text, default=None)
    filename: Mapped[str | None] = mapped_column(String(300), default=None)
    content_type: Mapped[str | None] = mapped_column(String(100), default=None)
    content_hash: Mapped[str | None] = mapped_column(String(64), default=None)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | ingested | failed
    error: Mapped[str | None] = mapped_column(Text, default=None)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str | None] = mapped_column(String(300), default=None)
    fetched_at: Mapped[datetime | None] = mapped_column(default=None)


class KnowledgeChunk(TenantMixin, Base):
    __tablename__ = "knowledge_chunks"
    __audited__ = False  # derived from the document, which is audited
    __table_args__ = (Index("ix_kchunks_store", "tenant_id", "vector_store_id"),
                      Index("ix_kchunks_document", "document_id", "ordinal"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    document_id: Mapped[str] = mapped_column(String(24), ForeignKey("knowledge_documents.id"))
    product_id: Mapped[str | None] = mapped_column(String(24), default=None)
    vector_store_id: Mapped[str] = mapped_column(String(64))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)  # float32, L2-normalised
