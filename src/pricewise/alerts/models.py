"""Alerts raised when data change (revenue drop, churn spike, price anomaly, competitor change) and
who hears of them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin


class Alert(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "alerts"
    # One alert per condition and period: re-detecting the same breach updates nothing.
    __table_args__ = (UniqueConstraint("tenant_id", "dedupe_key", name="uq_alert_dedupe"),
                      Index("ix_alerts_tenant_created", "tenant_id", "created_at"))

    type: Mapped[str] = mapped_column(String(30))  # price_anomaly | competitor_change | revenue_drop | churn_spike
    severity: Mapped[str] = mapped_column(String(10))  # low | medium | high | critical
    title: Mapped[str] = mapped_column(String(300))
    message: Mapped[str] = mapped_column(Text)
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("customer_segments.id"), default=None)
    plan_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("pricing_plans.id"), default=None)
    trigger_data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    threshold_breached: Mapped[dict[str, Any]] = mapped_column(default=dict)
    dedupe_key: Mapped[str] = mapped_column(String(200))
    is_acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100), default=None)
    acknowledged_at: Mapped[datetime | None] = mapped_column(default=None)
    is_resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    notified_at: Mapped[datetime | None] = mapped_column(default=None)


class NotificationPreference(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "notification_preferences"

    user_id: Mapped[str] = mapped_column(String(24), ForeignKey("users.id"))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    alert_types: Mapped[list[str]] = mapped_column(default=list)
    channels: Mapped[list[str]] = mapped_column(default=list)  # email | in_app
    frequency: Mapped[str] = mapped_column(String(20), default="immediate")  # immediate | hourly | daily
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sent_at: Mapped[datetime | None] = mapped_column(default=None)
