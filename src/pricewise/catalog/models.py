"""Products, customer segments, pricing plans, their links, and the canvas layout."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from pricewise.core.base import Base, IdMixin, SoftDeleteMixin, TenantMixin, TimestampMixin, utcnow

Money = Numeric(14, 4)


class Product(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """deleted_at doubles as 'archived': /product/listall shows archived ones, restore clears it."""

    __tablename__ = "products"
    __table_args__ = (Index("ix_products_page", "tenant_id", "created_at", "id"),)

    name: Mapped[str] = mapped_column(String(200))
    icp_description: Mapped[str | None] = mapped_column(Text, default=None)
    unit_level_cogs: Mapped[str | None] = mapped_column(Text, default=None)
    features_description_summary: Mapped[str | None] = mapped_column(Text, default=None)
    competitors: Mapped[list[Any]] = mapped_column(default=list)
    product_documentations: Mapped[list[Any]] = mapped_column(default=list)
    vector_store_id: Mapped[str | None] = mapped_column(String(64), default=None)
    category: Mapped[str | None] = mapped_column(String(100), default=None)
    pricing_objective: Mapped[str | None] = mapped_column(String(100), default=None)


class CustomerSegment(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "customer_segments"
    __table_args__ = (
        # One live uid per tenant and product; archived segments free their uid.
        Index("uq_segment_uid_live", "tenant_id", text("coalesce(product_id, '')"), "customer_segment_uid",
              unique=True, sqlite_where=text("deleted_at IS NULL"),
              postgresql_where=text("deleted_at IS NULL")),
        Index("ix_segments_page", "tenant_id", "created_at", "id"),
    )

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None,
                                                   index=True)
    customer_segment_uid: Mapped[str] = mapped_column(String(200))
    customer_segment_name: Mapped[str] = mapped_column(String(200))
    customer_segment_description: Mapped[str] = mapped_column(Text, default="")


class PricingPlan(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "pricing_plans"
    __table_args__ = (Index("ix_plans_page", "tenant_id", "created_at", "id"),)

    product_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("products.id"), default=None,
                                                   index=True)
    plan_name: Mapped[str] = mapped_column(String(200))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    min_unit_count: Mapped[int] = mapped_column(Integer, default=1)
    unit_calculation_logic: Mapped[str] = mapped_column(Text, default="")
    min_unit_utilization_period: Mapped[str] = mapped_column(String(100), default="")
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    cogs_per_unit: Mapped[Decimal | None] = mapped_column(Money, default=None)


class PriceChange(IdMixin, TenantMixin, Base):
    """Every list price a plan has had, from when; the elasticity model reads this."""

    __tablename__ = "plan_price_history"
    __audited__ = False  # the plan's own audit row records the change
    __table_args__ = (Index("ix_price_history_plan_time", "plan_id", "effective_at"),)

    plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))
    unit_price: Mapped[Decimal] = mapped_column(Money)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    effective_at: Mapped[datetime] = mapped_column()


class SegmentPlanLink(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "segment_plan_links"
    __table_args__ = (Index("ix_links_segment", "tenant_id", "segment_id"),
                      Index("ix_links_plan", "tenant_id", "plan_id"),
                      Index("ix_links_page", "tenant_id", "created_at", "id"))

    segment_id: Mapped[str] = mapped_column(String(24), ForeignKey("customer_segments.id"))
    plan_id: Mapped[str] = mapped_column(String(24), ForeignKey("pricing_plans.id"))
    connection_type: Mapped[str] = mapped_column(String(20))
    percentage: Mapped[float | None] = mapped_column(default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class CanvasPosition(IdMixin, TenantMixin, Base):
    __tablename__ = "canvas_positions"
    __audited__ = False
    __table_args__ = (UniqueConstraint("tenant_id", "node_id", name="uq_canvas_node"),)

    node_id: Mapped[str] = mapped_column(String(40))
    x: Mapped[float] = mapped_column()
    y: Mapped[float] = mapped_column()


class SearchDoc(IdMixin, TenantMixin, Base):
    """What /search ranks: one row per product, segment or plan, with its embedding."""

    __tablename__ = "search_docs"
    __audited__ = False
    __table_args__ = (UniqueConstraint("tenant_id", "entity_type", "entity_id", name="uq_search_entity"),
                      Index("ix_search_docs_tenant_updated", "tenant_id", "updated_at"))

    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str] = mapped_column(String(24))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DataSource(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    """A place data comes from (CSV upload, API, database, webhook), by what it feeds."""

    __tablename__ = "data_sources"
    __secret_fields__ = frozenset({"config_secret"})
    __encrypted_fields__ = frozenset({"config_secret"})

    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(30))  # product | revenue | customer_segment
    source_type: Mapped[str] = mapped_column(String(30))  # api | csv_upload | database | webhook
    config_public: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_secret: Mapped[str | None] = mapped_column(Text, default=None)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_sync: Mapped[datetime | None] = mapped_column(default=None)
    sync_status: Mapped[str | None] = mapped_column(String(20), default=None)  # success | failed | partial
    error_message: Mapped[str | None] = mapped_column(Text, default=None)


class DataImport(IdMixin, TimestampMixin, TenantMixin, Base):
    __tablename__ = "data_imports"

    data_source_id: Mapped[str | None] = mapped_column(String(24), ForeignKey("data_sources.id"), default=None)
    kind: Mapped[str] = mapped_column(String(30))  # revenue | subscriptions | customers | usage | feedback
    import_type: Mapped[str] = mapped_column(String(20), default="full")
    mode: Mapped[str] = mapped_column(String(20), default="all_or_nothing")
    filename: Mapped[str] = mapped_column(String(300), default="")
    records_processed: Mapped[int] = mapped_column(Integer, default=0)
    records_success: Mapped[int] = mapped_column(Integer, default=0)
    records_failed: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    error_logs: Mapped[list[Any]] = mapped_column(default=list)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)


class ProductIntegration(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "product_integrations"
    __secret_fields__ = frozenset({"config_secret"})
    __encrypted_fields__ = frozenset({"config_secret"})

    product_id: Mapped[str] = mapped_column(String(24), ForeignKey("products.id"))
    integration_type: Mapped[str] = mapped_column(String(50))
    config_public: Mapped[dict[str, Any]] = mapped_column(default=dict)
    config_secret: Mapped[str | None] = mapped_column(Text, default=None)
    status: Mapped[str] = mapped_column(String(20), default="pending")


class PromptConfig(IdMixin, TimestampMixin, TenantMixin, Base):
    """A tenant's overrides of the narrator's prompts and templates (/llmstxt)."""

    __tablename__ = "prompt_configs"
    __table_args__ = (UniqueConstraint("tenant_id", name="uq_prompt_config_tenant"),)

    system_prompts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    analysis_templates: Mapped[dict[str, Any]] = mapped_column(default=dict)
    response_formats: Mapped[dict[str, Any]] = mapped_column(default=dict)


class AutomationConfig(IdMixin, TimestampMixin, SoftDeleteMixin, TenantMixin, Base):
    __tablename__ = "automation_configs"

    name: Mapped[str] = mapped_column(String(200))
    automation_type: Mapped[str] = mapped_column(String(50))
    trigger_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    action_config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_run: Mapped[datetime | None] = mapped_column(default=None)
    next_run: Mapped[datetime | None] = mapped_column(default=None)
