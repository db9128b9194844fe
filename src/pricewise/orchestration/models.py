"""Analysis runs, each step's input and output (the spec's OrchestrationResult), and run logs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, TenantMixin, TimestampMixin, utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class OrchestrationRun(IdMixin, TimestampMixin, TenantMixin, Base):
    """One invocation of a workflow. `lease_until` is renewed by the worker running it: a run whose
    lease has lapsed while it was running was interrupted (a crash) and is resumed."""

    __tablename__ = "orchestration_runs"
    __table_args__ = (Index("ix_runs_tenant_status", "tenant_id", "status", "created_at"),
                      Index("ix_runs_status_lease", "status", "lease_until"))

    invocation_id: Mapped[str] = mapped_column(String(36), unique=True)
    workflow_type: Mapped[str] = mapped_column(String(40))
    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None)
    parameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # queued | running | paused | completed | failed | cancelled
    status: Mapped[str] = mapped_column(String(20), default="queued")
    current_step: Mapped[str | None] = mapped_column(String(100), default=None)
    completed_steps: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    deadline_at: Mapped[datetime | None] = mapped_column(default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    worker: Mapped[str | None] = mapped_column(String(100), default=None)
    requested: Mapped[str | None] = mapped_column(String(20), default=None)  # cancel | pause, seen between steps
    created_by: Mapped[str] = mapped_column(String(100), default="")


class OrchestrationResult(IdMixin, TenantMixin, Base):
    """A completed (or finally failed) step. Unique per run and step: a step never runs twice."""

    __tablename__ = "orchestration_results"
    __audited__ = False  # the run is the audited unit; steps are its record
    __table_args__ = (UniqueConstraint("run_id", "step_order", name="uq_result_step"),
                      Index("ix_results_invocation", "invocation_id", "step_order"))

    run_id: Mapped[str] = mapped_column(String(24), ForeignKey("orchestration_runs.id"))
    invocation_id: Mapped[str] = mapped_column(String(36))
    step_name: Mapped[str] = mapped_column(String(100))
    step_order: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[str | None] = mapped_column(String(24), default=None)
    step_input: Mapped[dict[str, Any]] = mapped_column(default=dict)
    step_output: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="completed")  # completed | failed | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrchestrationLog(TenantMixin, Base):
    __tablename__ = "orchestration_logs"
    __audited__ = False
    __table_args__ = (Index("ix_logs_run", "run_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(String(24), ForeignKey("orchestration_runs.id"))
    invocation_id: Mapped[str] = mapped_column(String(36))
    timestamp: Mapped[datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(10), default="INFO")
    message: Mapped[str] = mapped_column(Text)
    step_name: Mapped[str | None] = mapped_column(String(100), default=None)
    details: Mapped[dict[str, Any] | None] = mapped_column(default=None)
