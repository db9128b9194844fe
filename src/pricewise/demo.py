"""The demo workspace, loaded into the local workspace on first start of an embedded server.

One B2B SaaS product with four segments, five per-seat plans, finalized and experimental links,
36 months of revenue and active subscriptions per linked pair (trend, yearly seasonality, noise),
one price change twelve months ago that subscriptions answer with an elasticity of about -1.2,
and 200 customers with usage and feedback. Every figure comes from a numpy Generator with a
fixed seed, so two loads on the same day are identical. Catalog rows go through the catalog
services (search documents, price history and audit rows are right); bulk rows are inserted in
batches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import numpy as np
from sqlalchemy import insert

from pricewise.accounts.lifecycle import operator_scope
from pricewise.analytics import forecast_service
from pricewise.analytics.models import Contribution, SeriesPoint
from pricewise.catalog import links, service
from pricewise.catalog.models import DataSource, PriceChange, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.embeddings import get_embedder
from pricewise.core.tenancy import Scope
from pricewise.demo_people import add_people

SEED = 20240601
MONTHS = 36
PRICE_CHANGE_MONTHS_AGO = 12
ELASTICITY = -1.2
SEASONAL_AMPLITUDE = 0.06
NOISE = 0.03

PRODUCT: dict[str, Any] = {
    "name": "Acme Analytics",
    "icp_description": (
        "B2B SaaS and e-commerce companies with 10 to 5,000 employees whose product, growth and finance "
        "teams want self-serve dashboards on their own warehouse data without a dedicated BI engineer."),
    "unit_level_cogs": (
        "Per active seat and month: warehouse query compute about $2.10, storage about $0.40, support and "
        "onboarding about $1.50. Business and Enterprise seats add SSO/SCIM and audit-log infrastructure "
        "and a named customer success manager (about $3 to $5 more per seat)."),
    "features_description_summary": (
        "Self-serve dashboards and a SQL editor on Snowflake, BigQuery, Redshift and PostgreSQL; a semantic "
        "metrics layer; scheduled reports and threshold alerts; embedded analytics; row-level permissions; "
        "SSO, SCIM provisioning and audit logs on the higher tiers."),
    "competitors": [
        {"competitor_name": "Metabase", "website_url": "https://www.metabase.com",
         "product_description": "Open-source BI with a hosted cloud; per-user pricing on Pro and Enterprise."},
        {"competitor_name": "Looker", "website_url": "https://cloud.google.com/looker",
         "product_description": "Google Cloud's enterprise BI platform built around the LookML modeling layer."},
        {"competitor_name": "Mode", "website_url": "https://mode.com",
         "product_description": "Collaborative SQL, Python notebooks and reporting for data teams."},
    ],
    "product_documentations": ["https://docs.acme-analytics.example/getting-started"],
    "category": "analytics",
    "pricing_objective": "grow net revenue retention",
}


@dataclass(frozen=True)
class Seg:
    uid: str
    name: str
    description: str
    seats: float  # seats per subscription


SEGMENTS = (
    Seg("SEG-STARTUP", "Startups", "Seed to Series A companies with 1-20 employees; founders and first data "
        "hires, price-sensitive, adopt bottom-up and churn when budgets tighten.", 4),
    Seg("SEG-SMB", "SMB", "Small businesses with 20-200 employees; an operations or finance lead buys, "
        "values quick setup and templates over customisation.", 11),
    Seg("SEG-MIDMARKET", "Mid-market", "Companies with 200-1,000 employees and a small data team; need "
        "permissions, scheduled reporting and warehouse integrations; annual budgets.", 38),
    Seg("SEG-ENTERPRISE", "Enterprise", "Organisations with 1,000+ employees; procurement, security "
        "review, SSO/SCIM and audit logs required; multi-year contracts.", 160),
)


@dataclass(frozen=True)
class Plan:
    name: str
    price: float
    min_units: int
    logic: str
    period: str
    cogs: float


PLANS = (
    Plan("Free", 0.0, 1, "per seat per month, up to 3 seats and 1 data source", "monthly", 1.2),
    Plan("Starter", 15.0, 3, "per seat per month, minimum 3 seats", "monthly", 3.1),
    Plan("Growth", 35.0, 5, "per seat per month, minimum 5 seats, unlimited dashboards", "monthly", 4.4),
    Plan("Business", 60.0, 10, "per seat per month billed annually, minimum 10 seats", "annual", 6.8),
    Plan("Enterprise", 95.0, 50, "per seat per month on an annual contract, minimum 50 seats", "annual", 9.0),
)
CHANGED_PLAN, NEW_PRICE = "Growth", 39.0

# (segment, plan, kind, rollout %, subscriptions 36 months ago, monthly growth)
LINKS = (
    ("Startups", "Free", "finalized", None, 900, 0.024),
    ("Startups", "Starter", "finalized", None, 210, 0.021),
    ("SMB", "Starter", "finalized", None, 260, 0.015),
    ("SMB", "Growth", "finalized", None, 140, 0.019),
    ("Mid-market", "Growth", "finalized", None, 70, 0.017),
    ("Mid-market", "Business", "finalized", None, 45, 0.015),
    ("Enterprise", "Business", "finalized", None, 14, 0.011),
    ("Enterprise", "Enterprise", "finalized", None, 22, 0.014),
    ("Startups", "Growth", "experimental", 15.0, 30, 0.020),
    ("Mid-market", "Enterprise", "experimental", 25.0, 8, 0.015),
)


def month_starts(today: date, n: int = MONTHS) -> list[date]:
    """The n month starts that end with last month."""
    index = today.year * 12 + today.month - 1
    return [date((index - k) // 12, (index - k) % 12 + 1, 1) for k in range(n, 0, -1)]


def price_change_at(today: date) -> datetime:
    first = month_starts(today, PRICE_CHANGE_MONTHS_AGO)[0]
    return datetime(first.year, first.month, 1, tzinfo=UTC)


def pair_series(rng: np.random.Generator, months: list[date], prices: np.ndarray, seats: float,
                base: float, growth: float) -> tuple[np.ndarray, np.ndarray]:
    """Active subscriptions and revenue of one pair. Subscriptions follow a trend, a yearly cycle
    (budget season peaks in the first quarter) and noise, and move with price^ELASTICITY;
    revenue is subscriptions x seats x the price then in force, with a little noise in seats."""
    t = np.arange(len(months), dtype=float)
    month_of_year = np.array([m.month for m in months], dtype=float)
    season = 1 + SEASONAL_AMPLITUDE * np.cos(2 * np.pi * (month_of_year - 2) / 12)
    ratio = np.divide(prices, prices[0], out=np.ones_like(prices), where=prices[0] > 0)
    response = ratio ** ELASTICITY
    subs = np.round(base * (1 + growth) ** t * season * response * np.exp(rng.normal(0, NOISE, len(t))))
    revenue = np.round(subs * seats * prices * (1 + rng.normal(0, 0.015, len(t))), 2)
    return subs, revenue


def _warm_embedder() -> None:
    """Distil the demo's vocabulary in one pass rather than once per indexed row."""
    texts = [PRODUCT["name"], PRODUCT["icp_description"], PRODUCT["features_description_summary"],
             *(c["competitor_name"] for c in PRODUCT["competitors"]), str(PRODUCT["category"]),
             str(PRODUCT["pricing_objective"]), *(f"{s.name} {s.uid} {s.description}" for s in SEGMENTS),
             *(f"{p.name} {p.logic} {p.period}" for p in PLANS)]
    get_embedder().embed([" ".join(texts)])


async def _catalog(scope: Scope, today: date) -> tuple[str, dict[str, str], dict[str, PricingPlan]]:
    product = await service.create_product(scope, dict(PRODUCT))
    segs = {}
    for s in SEGMENTS:
        seg = await service.create_segment(scope, {
            "product": product.id, "customer_segment_uid": s.uid, "customer_segment_name": s.name,
            "customer_segment_description": s.description})
        segs[s.name] = seg.id
    plans = {}
    for p in PLANS:
        plans[p.name] = await service.create_plan(scope, {
            "product": product.id, "plan_name": p.name, "unit_price": p.price, "min_unit_count": p.min_units,
            "unit_calculation_logic": p.logic, "min_unit_utilization_period": p.period, "cogs_per_unit": p.cogs})
    # The list prices have held since the history starts; then one plan's price went up.
    start = month_starts(today)[0]
    for change in await scope.list(PriceChange, PriceChange.plan_id.in_([p.id for p in plans.values()])):
        change.effective_at = datetime(start.year, start.month, 1, tzinfo=UTC)
    changed = plans[CHANGED_PLAN]
    await service.update_plan(scope, changed.id, {"unit_price": NEW_PRICE})
    latest = await scope.list(PriceChange, PriceChange.plan_id == changed.id,
                              PriceChange.unit_price == Decimal(str(NEW_PRICE)))
    for change in latest:
        change.effective_at = price_change_at(today)
    for seg_name, plan_name, kind, pct, *_ in LINKS:
        await links.create_link(scope, {"customer_segment_id": segs[seg_name], "pricing_plan_id": plans[plan_name].id,
                                        "connection_type": kind, "percentage": pct, "is_active": True})
    await scope.session.flush()
    return product.id, segs, plans


async def _history(scope: Scope, rng: np.random.Generator, today: date, product_id: str,
                   segs: dict[str, str], plans: dict[str, PricingPlan]) -> dict[tuple[str, str], float]:
    """Series points for every linked pair; returns each pair's subscriptions last month."""
    months = month_starts(today)
    changed_from = price_change_at(today).date()
    seats_of = {s.name: s.seats for s in SEGMENTS}
    rows: list[dict[str, Any]] = []
    latest: dict[tuple[str, str], float] = {}
    contributions = []
    for seg_name, plan_name, _kind, _pct, base, growth in LINKS:
        plan_def = next(p for p in PLANS if p.name == plan_name)
        prices = np.array([NEW_PRICE if plan_name == CHANGED_PLAN and m >= changed_from else plan_def.price
                           for m in months])
        seats = max(seats_of[seg_name], plan_def.min_units) if plan_def.price else min(seats_of[seg_name], 3)
        subs, revenue = pair_series(rng, months, prices, seats, base, growth)
        c = scope.add(Contribution(product_id=product_id, segment_id=segs[seg_name], plan_id=plans[plan_name].id))
        contributions.append((c, subs, revenue))
        latest[(seg_name, plan_name)] = float(subs[-1])
    await scope.session.flush()
    for c, subs, revenue in contributions:
        for metric, values in (("subscriptions", subs), ("revenue", revenue)):
            rows += [{"tenant_id": scope.tenant_id, "contribution_id": c.id, "metric": metric, "date": m,
                      "value": float(v)} for m, v in zip(months, values, strict=True)]
    await scope.session.execute(insert(SeriesPoint), rows)
    return latest


async def load_demo(ctx: Any, today: date | None = None) -> bool:
    """Fill the local workspace when it has no products yet; True when it was filled now."""
    today = today or datetime.now(UTC).date()
    async with ctx.db.session() as session:
        scope = await operator_scope(session, None)
        if await scope.count(Product, include_deleted=True):
            await commit(session)  # the local workspace may just have been created or reactivated
            return False
        _warm_embedder()
        rng = np.random.default_rng(SEED)
        product_id, segs, plans = await _catalog(scope, today)
        latest = await _history(scope, rng, today, product_id, segs, plans)
        await add_people(scope, rng, today, product_id, segs, plans, latest, price_change_at(today))
        _sources(scope)
        # The forecasts are computed by the job queue (in the serving process when embedded).
        forecast_service.schedule(session, scope.tenant_id, [c.id for c in await scope.list(Contribution)])
        await commit(session)
    return True


def _sources(scope: Scope) -> None:
    """Say where the demo's data came from: generated, synced when the demo was loaded."""
    now = utcnow()
    for category, name in (("product", "Demo catalogue (generated)"), ("revenue", "Demo revenue history (generated)"),
                           ("customer_segment", "Demo customers, usage and feedback (generated)")):
        scope.add(DataSource(name=name, category=category, source_type="csv_upload",
                             config_public={"generated": True}, last_sync=now, sync_status="success"))
