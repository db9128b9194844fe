"""Revenue and subscription history, customers, usage and feedback.

Time series are rows (contribution, metric, date, value), indexed, never JSON blobs. Bulk rows
(points, usage) are not audited one by one: the import or request that wrote them is.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Date, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin

BigId = BigInteger().with_variant(Integer(), "sqlite")


class Contribution(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """One segment x plan (x product) pair whose revenue and subscriptions are tracked."""

    __tablename__ = "contributions"
    __table_args__ = (Index("ix_contrib_pair", "tenant_id", "segment_id", "plan_id"),)

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str] = mapped_column(String(24), ForeignKey("customer_segments.id"))
    plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))


class SeriesPoint(TenantMixin, Base):
    __tablename__ = "series_points"
    __audited__ = False
    __table_args__ = (
        UniqueConstraint("contribution_id", "metric", "date", name="uq_series_point"),
        Index("ix_series_tenant_metric_date", "tenant_id", "metric", "date"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    contribution_id: Mapped[str] = mapped_column(String(24), ForeignKey("contributions.id"))
    metric: Mapped[str] = mapped_column(String(20))
    date: Mapped[date] = mapped_column(Date)
    value: Mapped[float] = mapped_column(Float)


class Customer(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "customers"
    __table_args__ = (UniqueConstraint("tenant_id", "customer_uid", name="uq_customer_uid"),)

    customer_uid: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(200), default="")
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("customer_segments.id"), default=None)
    plan_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("pricing_plans.id"), default=None)
    monthly_revenue: Mapped[float | None] = mapped_column(Float, default=None)
    seats: Mapped[int | None] = mapped_column(Integer, default=None)
    signup_date: Mapped[date | None] = mapped_column(Date, default=None)
    churned_at: Mapped[date | None] = mapped_column(Date, default=None)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UsageRecord(TenantMixin, Base):
    __tablename__ = "usage_records"
    __audited__ = False
    __table_args__ = (Index("ix_usage_customer_date", "tenant_id", "customer_uid", "date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_uid: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    date: Mapped[date] = mapped_column(Date)
    metric: Mapped[str] = mapped_column(String(100))
    quantity: Mapped[float] = mapped_column(Float)


class CustomerFeedback(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "customer_feedback"

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("customer_segments.id"), default=None)
    customer_uid: Mapped[str] = mapped_column(String(200))
    satisfaction_score: Mapped[float | None] = mapped_column(Float, default=None)
    price_perception: Mapped[str | None] = mapped_column(String(20), default=None)
    feature_requests: Mapped[list[Any]] = mapped_column(default=list)
    churn_risk: Mapped[str | None] = mapped_column(String(10), default=None)
    feedback_source: Mapped[str | None] = mapped_column(String(50), default=None)
    feedback_date: Mapped[datetime | None] = mapped_column(default=None)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    comments: Mapped[str] = mapped_column(Text, default="")
