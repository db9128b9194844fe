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
        # covering: monthly sums read from the index alone (migration 0005)
        Index("ix_series_points_cover", "contribution_id", "metric", "date", "value", "tenant_id"),
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


class StoredForecast(IdMixin, TimestampMixin, TenantMixin, Base):
    """The latest forecast of one series, with the model chosen by backtest and its MASE.

    Derived data, recomputed by a job when the series changes (`data_hash`), so not audited. `spec`
    keeps the chosen model's fitted form (e.g. the ETS components, the ARIMA orders) so a recompute
    refits that form instead of searching again until the series has grown by a season."""

    __tablename__ = "forecasts"
    __audited__ = False
    __table_args__ = (UniqueConstraint("contribution_id", "metric", name="uq_forecast_series"),)

    contribution_id: Mapped[str] = mapped_column(String(24), ForeignKey("contributions.id"))
    metric: Mapped[str] = mapped_column(String(20))
    model: Mapped[str] = mapped_column(String(40))
    spec: Mapped[dict[str, Any]] = mapped_column(default=dict)
    mase: Mapped[float | None] = mapped_column(Float, default=None)
    candidates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    fallback: Mapped[str | None] = mapped_column(Text, default=None)
    season_length: Mapped[int] = mapped_column(Integer, default=1)
    horizon: Mapped[int] = mapped_column(Integer, default=12)
    observations: Mapped[int] = mapped_column(Integer, default=0)
    data_hash: Mapped[str] = mapped_column(String(64), default="")


class ForecastPoint(TenantMixin, Base):
    __tablename__ = "forecast_points"
    __audited__ = False
    __table_args__ = (UniqueConstraint("forecast_id", "date", name="uq_forecast_point"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    forecast_id: Mapped[str] = mapped_column(String(24), ForeignKey("forecasts.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    mean: Mapped[float] = mapped_column(Float)
    lo80: Mapped[float] = mapped_column(Float)
    hi80: Mapped[float] = mapped_column(Float)
    lo95: Mapped[float] = mapped_column(Float)
    hi95: Mapped[float] = mapped_column(Float)


class GapDiagnosis(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "gap_diagnoses"
    __table_args__ = (Index("ix_gap_plan", "tenant_id", "plan_id", "created_at"),)

    plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))
    summary: Mapped[str] = mapped_column(Text, default="")
    reasoning: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    context: Mapped[str] = mapped_column(Text, default="")
    narrator: Mapped[str] = mapped_column(String(20), default="template")


class Recommendation(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """A price recommendation for one segment x plan: the price-response model's output, kept as made."""

    __tablename__ = "recommendations"
    __table_args__ = (Index("ix_reco_scope", "tenant_id", "product_id", "segment_id", "created_at"),)

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str] = mapped_column(String(24), ForeignKey("customer_segments.id"))
    plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))
    current_price: Mapped[float] = mapped_column(Float)
    recommended_price: Mapped[float] = mapped_column(Float)
    model: Mapped[dict[str, Any]] = mapped_column(default=dict)  # elasticity, rule, guardrail, uplift
    assumptions: Mapped[list[Any]] = mapped_column(default=list)
    forecast: Mapped[list[Any]] = mapped_column(default=list)  # [{date, value, lo80, hi80, lo95, hi95}]
    narrative: Mapped[str] = mapped_column(Text, default="")
    narrator: Mapped[str] = mapped_column(String(20), default="template")
    analysis_prompt: Mapped[str] = mapped_column(Text, default="")


class UsageAnalysis(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "usage_analyses"
    __table_args__ = (Index("ix_usage_analysis_scope", "tenant_id", "product_id", "segment_id"),
                      Index("ix_usage_analysis_customer", "tenant_id", "customer_uid"))

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    segment_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("customer_segments.id"), default=None)
    customer_uid: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(Text, default="")
    predicted_satisfaction: Mapped[float | None] = mapped_column(Float, default=None)
    reasoning: Mapped[str] = mapped_column(Text, default="")
    method: Mapped[str] = mapped_column(String(20), default="recorded")  # recorded | model | model+llm
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)


class PricingExperiment(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "pricing_experiments"

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    experiment_type: Mapped[str] = mapped_column(String(20))
    hypothesis: Mapped[str] = mapped_column(Text, default="")
    target_segments: Mapped[list[str]] = mapped_column(default=list)
    baseline_plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))
    experimental_pricing: Mapped[dict[str, Any]] = mapped_column(default=dict)
    predicted_impact: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actual_results: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    start_date: Mapped[date | None] = mapped_column(Date, default=None)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    created_by: Mapped[str] = mapped_column(String(100), default="")


class Scenario(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "scenarios"

    name: Mapped[str] = mapped_column(String(200))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    scenario_type: Mapped[str] = mapped_column(String(20))
    assumptions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    projections: Mapped[list[Any]] = mapped_column(default=list)
    created_by: Mapped[str] = mapped_column(String(100), default="")
