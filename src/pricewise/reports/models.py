"""Scheduled reports (sending belongs to the report jobs)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin


class ScheduledReport(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "scheduled_reports"

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(24), default=None)
    schedule_type: Mapped[str] = mapped_column(String(20))  # daily | weekly | monthly | cron
    schedule_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    cron: Mapped[str] = mapped_column(String(100))
    report_sections: Mapped[list[Any]] = mapped_column(default=list)
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | paused | completed
    next_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_delivery_status: Mapped[str | None] = mapped_column(String(200), default=None)
