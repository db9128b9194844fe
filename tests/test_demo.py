"""The demo workspace: loaded once into the local workspace, consistent, and reproducible."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
from sqlalchemy import func, select

from pricewise.accounts.models import AuditLog, Tenant
from pricewise.analytics.models import Contribution, Customer, CustomerFeedback, SeriesPoint, UsageRecord
from pricewise.catalog.models import (
    CustomerSegment,
    DataSource,
    PriceChange,
    PricingPlan,
    Product,
    SearchDoc,
    SegmentPlanLink,
)
from pricewise.core.context import AppContext
from pricewise.demo import ELASTICITY, load_demo
from tests.conftest import make_settings

TODAY = date(2026, 11, 25)
MODELS = (Product, CustomerSegment, PricingPlan, PriceChange, SegmentPlanLink, Contribution, SeriesPoint,
          Customer, UsageRecord, CustomerFeedback, SearchDoc, AuditLog)


async def _counts(ctx: AppContext) -> dict[str, int]:
    async with ctx.db.session() as s:
        return {m.__name__: int((await s.execute(select(func.count()).select_from(m))).scalar_one())
                for m in MODELS}


async def _series(ctx: AppContext, plan_name: str) -> dict[str, dict[date, float]]:
    """Subscriptions and revenue of a plan, summed over its pairs, by month."""
    async with ctx.db.session() as s:
        rows = (await s.execute(
            select(SeriesPoint.metric, SeriesPoint.date, func.sum(SeriesPoint.value))
            .join(Contribution, Contribution.id == SeriesPoint.contribution_id)
            .join(PricingPlan, PricingPlan.id == Contribution.plan_id)
            .where(PricingPlan.plan_name == plan_name)
            .group_by(SeriesPoint.metric, SeriesPoint.date))).all()
    out: dict[str, dict[date, float]] = {}
    for metric, day, value in rows:
        out.setdefault(metric, {})[day] = float(value)
    return out


async def test_demo_loads_once_with_everything(db_url: str, tmp_path: Path) -> None:
    ctx = AppContext.build(make_settings(db_url, tmp_path))
    try:
        assert await load_demo(ctx, today=TODAY) is True
        first = await _counts(ctx)
        assert {k: first[k] for k in ("Product", "CustomerSegment", "PricingPlan", "SegmentPlanLink",
                                      "Contribution", "SeriesPoint", "Customer", "CustomerFeedback",
                                      "PriceChange", "SearchDoc")} == {
            "Product": 1, "CustomerSegment": 4, "PricingPlan": 5, "SegmentPlanLink": 10, "Contribution": 10,
            "SeriesPoint": 10 * 2 * 36, "Customer": 200, "CustomerFeedback": 60, "PriceChange": 6,
            "SearchDoc": 10}
        assert first["UsageRecord"] > 1000
        assert await load_demo(ctx, today=TODAY) is False
        assert await load_demo(ctx) is False
        assert await _counts(ctx) == first  # nothing added, not even audit rows

        async with ctx.db.session() as s:
            local = (await s.execute(select(Tenant.id).where(Tenant.is_local.is_(True)))).scalar_one()
            product = (await s.execute(select(Product))).scalar_one()
            assert product.tenant_id == local and len(product.competitors) == 3
            assert all(c["website_url"].startswith("https://") for c in product.competitors)
            assert product.product_documentations[0].startswith("https://")
            segs = (await s.execute(select(CustomerSegment))).scalars().all()
            assert {x.customer_segment_name for x in segs} == {"Startups", "SMB", "Mid-market", "Enterprise"}
            assert all(x.product_id == product.id and x.customer_segment_uid for x in segs)
            links = (await s.execute(select(SegmentPlanLink))).scalars().all()
            assert sorted(x.connection_type for x in links).count("experimental") == 2
            per_segment: dict[str, float] = {}
            for x in links:
                if x.connection_type == "experimental":
                    assert x.percentage is not None and x.percentage > 0
                    per_segment[x.segment_id] = per_segment.get(x.segment_id, 0.0) + x.percentage
            assert per_segment and all(total <= 100 for total in per_segment.values())

            growth = (await s.execute(select(PricingPlan).where(PricingPlan.plan_name == "Growth"))).scalar_one()
            assert growth.unit_price == Decimal("39")
            history = (await s.execute(select(PriceChange).where(PriceChange.plan_id == growth.id)
                                       .order_by(PriceChange.effective_at))).scalars().all()
            assert [(float(h.unit_price), h.effective_at) for h in history] == [
                (35.0, datetime(2023, 11, 1, tzinfo=UTC)), (39.0, datetime(2025, 11, 1, tzinfo=UTC))]
            updates = (await s.execute(select(func.count()).select_from(AuditLog).where(
                AuditLog.entity_id == growth.id, AuditLog.action == "update"))).scalar_one()
            assert updates == 1

            days = (await s.execute(select(func.min(SeriesPoint.date), func.max(SeriesPoint.date)))).one()
            assert tuple(days) == (date(2023, 11, 1), date(2026, 10, 1))
            assert {d.day for d in (await s.execute(select(SeriesPoint.date).distinct())).scalars()} == {1}
            fb = (await s.execute(select(CustomerFeedback))).scalars().all()
            assert {f.price_perception for f in fb} <= {"too_expensive", "fair", "cheap"}
            assert {f.churn_risk for f in fb} <= {"low", "medium", "high"}
            assert len({f.segment_id for f in fb}) == 4
            assert all(f.satisfaction_score is not None and 1 <= f.satisfaction_score <= 10 for f in fb)
            sources = (await s.execute(select(DataSource))).scalars().all()
            assert {x.category for x in sources} == {"product", "revenue", "customer_segment"}
            assert all(x.last_sync is not None and "generated" in x.name for x in sources)
    finally:
        await ctx.db.dispose()


async def test_demo_series_are_consistent_and_respond_to_the_price(sqlite_url: str, tmp_path: Path) -> None:
    ctx = AppContext.build(make_settings(sqlite_url, tmp_path))
    try:
        await load_demo(ctx, today=TODAY)
        business = await _series(ctx, "Business")
        ratio = np.array([business["revenue"][d] / business["subscriptions"][d] for d in business["revenue"]])
        # Business revenue per subscription: seats x $60 (Mid-market and Enterprise accounts)
        assert np.all(ratio > 60 * 10) and np.all(ratio < 60 * 160 * 1.05)
        free = await _series(ctx, "Free")
        assert set(free["revenue"].values()) == {0.0} and min(free["subscriptions"].values()) > 0

        # Log subscriptions of the changed plan: trend + yearly cycle + a step at the change.
        subs = await _series(ctx, "Growth")
        days = sorted(subs["subscriptions"])
        y = np.log([subs["subscriptions"][d] for d in days])
        t = np.arange(len(days), dtype=float)
        month = np.array([d.month for d in days], dtype=float)
        step = np.array([d >= date(2025, 11, 1) for d in days], dtype=float)
        x = np.column_stack([np.ones_like(t), t, np.cos(2 * np.pi * month / 12), np.sin(2 * np.pi * month / 12),
                             step])
        coef = np.linalg.lstsq(x, y, rcond=None)[0]
        elasticity = coef[4] / np.log(39 / 35)
        assert abs(elasticity - ELASTICITY) < 0.5, elasticity
        revenue = np.array([subs["revenue"][d] for d in days])
        assert revenue[-1] > 0 and np.all(revenue > 0)
    finally:
        await ctx.db.dispose()


async def test_demo_is_reproducible(sqlite_url: str, sqlite_template: Path, tmp_path: Path) -> None:
    other = tmp_path / "second.db"
    shutil.copy(sqlite_template, other)
    values = []
    for url in (sqlite_url, f"sqlite+aiosqlite:///{other}"):
        ctx = AppContext.build(make_settings(url, tmp_path))
        try:
            await load_demo(ctx, today=TODAY)
            async with ctx.db.session() as s:
                values.append((await s.execute(select(SeriesPoint.metric, SeriesPoint.date, SeriesPoint.value)
                                               .order_by(SeriesPoint.id))).all())
                values.append((await s.execute(select(Customer.customer_uid, Customer.seats, Customer.signup_date)
                                               .order_by(Customer.customer_uid))).all())
        finally:
            await ctx.db.dispose()
    assert values[0] == values[2] and values[1] == values[3]
