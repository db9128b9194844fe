"""Scheduled reports, generated reports (with their PDF) and deliveries by e-mail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text
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


class GeneratedReport(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """A report made on demand or by a schedule; the PDF is kept in the database so any API process
    can serve what any worker rendered."""

    __tablename__ = "generated_reports"
    __secret_fields__ = frozenset({"pdf"})  # not a secret, but never copied into audit rows

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    template_id: Mapped[str | None] = mapped_column(String(60), default=None)
    sections: Mapped[list[Any]] = mapped_column(default=list)
    time_range: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scheduled_report_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("scheduled_reports.id"),
                                                            default=None)
    status: Mapped[str] = mapped_column(String(20), default="generating")  # generating | completed | failed
    error: Mapped[str | None] = mapped_column(Text, default=None)
    pdf: Mapped[bytes | None] = mapped_column(LargeBinary, default=None, deferred=True)
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class ReportDelivery(IdMixin, TenantMixin, Base):
    """One e-mailing of a scheduled report: to whom, and whether the SMTP server took it."""

    __tablename__ = "report_deliveries"
    __audited__ = False
    __table_args__ = (Index("ix_deliveries_schedule", "scheduled_report_id", "attempted_at"),)

    scheduled_report_id: Mapped[str] = mapped_column(String(24), ForeignKey("scheduled_reports.id"))
    report_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("generated_reports.id"), default=None)
    run_key: Mapped[str] = mapped_column(String(80), unique=True)  # schedule + due time: sent once
    recipients: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sent | failed
    error: Mapped[str | None] = mapped_column(Text, default=None)
    attempted_at: Mapped[datetime | None] = mapped_column(default=None)
