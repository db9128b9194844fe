"""Widget sessions: one per visitor of a tenant's site, opened with the publishable key."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, TenantMixin, TimestampMixin


class WidgetSession(IdMixin, TimestampMixin, TenantMixin, Base):
    """The spec's widget_sessions. The token is kept only as its SHA-256; the conversation's
    messages live in its chat_sessions row (chat_session_id), the estimate in estimations."""

    __tablename__ = "widget_sessions"
    __secret_fields__ = frozenset({"token_hash"})
    __audited__ = False  # anonymous public traffic: the estimate and lead it creates are audited
    __table_args__ = (Index("ix_widget_sessions_tenant_created", "tenant_id", "created_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    api_key_id: Mapped[str] = mapped_column(String(24))  # the publishable key that opened it
    origin: Mapped[str] = mapped_column(String(300))
    chat_session_id: Mapped[str | None] = mapped_column(String(36), default=None)
    estimation_id: Mapped[str | None] = mapped_column(String(24), default=None)
    customer_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    widget_config_snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime] = mapped_column()
