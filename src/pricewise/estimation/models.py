"""Reference classes, stored estimates and their versions, scoping conversations, outcomes
(feedback) and the magic links that collect them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin, utcnow


class ReferenceClass(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A class of comparable projects and its cost/timeline distribution. tenant_id NULL: a
    platform class every tenant sees (and none may change); otherwise the tenant's own."""

    __tablename__ = "reference_classes"
    __table_args__ = (
        # Platform classes are seeded by name on every start: a second process must not duplicate them.
        Index("uq_reference_classes_platform_name", "name", unique=True,
              sqlite_where=text("tenant_id IS NULL AND deleted_at IS NULL"),
              postgresql_where=text("tenant_id IS NULL AND deleted_at IS NULL")),
    )

    tenant_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("tenants.id"), index=True, default=None)
    category: Mapped[str] = mapped_column(String(60))
    subcategory: Mapped[str] = mapped_column(String(60))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    keywords: Mapped[list[str]] = mapped_column(default=list)
    regions: Mapped[list[str]] = mapped_column(default=list)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cost_p50: Mapped[float] = mapped_column(Float)
    cost_p80: Mapped[float] = mapped_column(Float)
    cost_p95: Mapped[float] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    timeline_p50: Mapped[float] = mapped_column(Float)
    timeline_p80: Mapped[float] = mapped_column(Float)
    timeline_p95: Mapped[float] = mapped_column(Float)
    timeline_unit: Mapped[str] = mapped_column(String(10), default="weeks")
    cost_breakdown_template: Mapped[dict[str, Any]] = mapped_column(default=dict)
    regional_multipliers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_synthetic: Mapped[bool] = mapped_column(Boolean, default=True)
    validation_source: Mapped[str] = mapped_column(String(300), default="")


class Estimation(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """The current version of one estimate; every version is also kept in EstimationVersion."""

    __tablename__ = "estimations"
    __table_args__ = (Index("ix_estimations_tenant_created", "tenant_id", "created_at"),)

    session_id: Mapped[str] = mapped_column(String(36), unique=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    refinement: Mapped[str] = mapped_column(Text, default="")  # what the current version added
    user_description: Mapped[str] = mapped_column(Text)
    region: Mapped[str | None] = mapped_column(String(60), default=None)
    extracted_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    matched_reference_class_id: Mapped[str | None] = mapped_column(
        String(24), ForeignKey("reference_classes.id"), default=None)
    matched_class_name: Mapped[str] = mapped_column(String(200), default="")
    confidence_score: Mapped[float] = mapped_column(Float, default=0.0)
    estimate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # What calibration needs later: the model's P50s before the tenant's calibration was applied.
    base_cost_p50: Mapped[float] = mapped_column(Float, default=0.0)
    base_timeline_p50: Mapped[float] = mapped_column(Float, default=0.0)
    cost_sigma: Mapped[float] = mapped_column(Float, default=0.0)
    timeline_sigma: Mapped[float] = mapped_column(Float, default=0.0)
    calibration: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assumptions: Mapped[list[Any]] = mapped_column(default=list)
    risks: Mapped[list[Any]] = mapped_column(default=list)
    llm_narrative: Mapped[str] = mapped_column(Text, default="")
    chat_history: Mapped[list[Any]] = mapped_column(default=list)
    widget_session: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_email: Mapped[str | None] = mapped_column(String(320), default=None)
    customer_name: Mapped[str | None] = mapped_column(String(200), default=None)
    customer_phone: Mapped[str | None] = mapped_column(String(40), default=None)
    feedback_consent: Mapped[bool] = mapped_column(Boolean, default=False)
    feedback_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    status: Mapped[str] = mapped_column(String(20), default="completed")  # draft | completed | feedback_submitted
    lead_status: Mapped[str] = mapped_column(String(20), default="new")  # new | contacted | won | lost
    lead_notes: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(120), default="")


class EstimationVersion(IdMixin, TenantMixin, Base):
    """A version an estimate had before a refinement replaced it."""

    __tablename__ = "estimation_versions"
    __audited__ = False  # an append-only copy of what the estimation's own audit rows record

    estimation_id: Mapped[str] = mapped_column(String(24), ForeignKey("estimations.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    additional_info: Mapped[str] = mapped_column(Text, default="")
    extracted_attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    matched_reference_class_id: Mapped[str | None] = mapped_column(String(24), default=None)
    matched_class_name: Mapped[str] = mapped_column(String(200), default="")
    confidence_score: Mapped[float] = mapped_column(Float, default=0.0)
    estimate: Mapped[dict[str, Any]] = mapped_column(default=dict)
    assumptions: Mapped[list[Any]] = mapped_column(default=list)
    risks: Mapped[list[Any]] = mapped_column(default=list)
    narrative: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Feedback(IdMixin, TenantMixin, Base):
    """An outcome of an estimated project, from the customer or the contractor."""

    __tablename__ = "estimation_feedback"
    __table_args__ = (Index("ix_estimation_feedback_class", "tenant_id", "reference_class_id"),)

    estimation_id: Mapped[str] = mapped_column(String(24), ForeignKey("estimations.id"), index=True)
    feedback_type: Mapped[str] = mapped_column(String(20))  # customer | contractor
    actual_cost: Mapped[float] = mapped_column(Float)
    actual_timeline_weeks: Mapped[float | None] = mapped_column(Float, default=None)
    variance_cost_pct: Mapped[float] = mapped_column(Float)
    variance_timeline_pct: Mapped[float | None] = mapped_column(Float, default=None)
    accuracy_rating: Mapped[int | None] = mapped_column(Integer, default=None)
    comments: Mapped[str] = mapped_column(Text, default="")
    actual_breakdown: Mapped[dict[str, Any]] = mapped_column(default=dict)
    discrepancy_explanation: Mapped[str] = mapped_column(Text, default="")
    discrepancy_flags: Mapped[dict[str, Any]] = mapped_column(default=dict)
    submitted_by: Mapped[str] = mapped_column(String(320))
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Copied from the estimate so that calibration reads one table.
    reference_class_id: Mapped[str | None] = mapped_column(String(24), default=None)
    subcategory: Mapped[str] = mapped_column(String(60), default="")
    region: Mapped[str | None] = mapped_column(String(60), default=None)
    estimate_cost_p50: Mapped[float] = mapped_column(Float, default=0.0)
    estimate_cost_p80: Mapped[float] = mapped_column(Float, default=0.0)
    base_cost_p50: Mapped[float] = mapped_column(Float, default=0.0)
    base_timeline_p50: Mapped[float] = mapped_column(Float, default=0.0)
    cost_sigma: Mapped[float] = mapped_column(Float, default=0.0)
    timeline_sigma: Mapped[float] = mapped_column(Float, default=0.0)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class FeedbackLink(IdMixin, TenantMixin, Base):
    """A magic link sent to the customer: the token is signed; this row makes it single-use."""

    __tablename__ = "feedback_links"
    __audited__ = False

    estimation_id: Mapped[str] = mapped_column(String(24), ForeignKey("estimations.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatSession(IdMixin, TimestampMixin, TenantMixin, Base):
    """A scoping conversation; it becomes an estimate once enough is known."""

    __tablename__ = "chat_sessions"

    session_id: Mapped[str] = mapped_column(String(36), unique=True)
    messages: Mapped[list[Any]] = mapped_column(default=list)
    extracted: Mapped[dict[str, Any]] = mapped_column(default=dict)
    reference_class_id: Mapped[str | None] = mapped_column(String(24), default=None)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    ready_for_estimate: Mapped[bool] = mapped_column(Boolean, default=False)
    estimation_id: Mapped[str | None] = mapped_column(String(24), default=None)
    widget: Mapped[bool] = mapped_column(Boolean, default=False)
    customer_info: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(default=None)


class PlatformCalibration(Base):
    """Platform-wide evidence for calibration, without any tenant's rows: the bias of each platform
    class fitted on every tenant's outcomes (key: the class id; "*" holds the platform mean)."""

    __tablename__ = "platform_calibration"
    __audited__ = False

    key: Mapped[str] = mapped_column(String(24), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)
    cost_log_bias: Mapped[float] = mapped_column(Float, default=0.0)
    timeline_log_bias: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
