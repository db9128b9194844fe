"""Reference classes: the platform set seeded on start, tenants' own classes within their tier's
cap, synthetic generation, and the view the estimator and the matcher read."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import String, func, select
from sqlalchemy.exc import IntegrityError

from pricewise.core.db import Database
from pricewise.core.errors import Forbidden, Invalid
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import TENANT, Scope
from pricewise.estimation import priors
from pricewise.estimation.models import ReferenceClass
from pricewise.estimation.priors import ClassSpec, Quantiles

log = logging.getLogger("pricewise.estimation")

# Custom classes a tenant may keep besides the platform's (None: no cap).
TIER_CLASS_CAP: dict[str, int | None] = {"trial": 0, "pro": 50, "enterprise": None}


def cost_of(c: ReferenceClass) -> Quantiles:
    return Quantiles(c.cost_p50, c.cost_p80, c.cost_p95)


def timeline_of(c: ReferenceClass) -> Quantiles:
    return Quantiles(c.timeline_p50, c.timeline_p80, c.timeline_p95)


def class_out(c: ReferenceClass) -> dict[str, Any]:
    return {
        "_id": c.id, "tenant_id": c.tenant_id, "category": c.category, "subcategory": c.subcategory,
        "name": c.name, "description": c.description, "keywords": list(c.keywords or []),
        "regions": list(c.regions or []), "attributes": dict(c.attributes or {}),
        "cost_distribution": {"P50": c.cost_p50, "P80": c.cost_p80, "P95": c.cost_p95, "currency": c.currency},
        "timeline_distribution": {"P50": c.timeline_p50, "P80": c.timeline_p80, "P95": c.timeline_p95,
                                  "unit": c.timeline_unit},
        "cost_breakdown_template": dict(c.cost_breakdown_template or {}),
        "regional_multipliers": dict(c.regional_multipliers or {}),
        "is_synthetic": c.is_synthetic, "validation_source": c.validation_source,
        "is_platform": c.tenant_id is None,
        "created_at": _iso_z(c.created_at), "updated_at": _iso_z(c.updated_at),
    }


def _from_spec(spec: ClassSpec, tenant_id: str | None) -> ReferenceClass:
    return ReferenceClass(
        tenant_id=tenant_id, category=spec.category, subcategory=spec.subcategory, name=spec.name,
        description=spec.description, keywords=list(spec.keywords), regions=list(spec.regions),
        attributes=dict(spec.attributes), cost_p50=spec.cost.p50, cost_p80=spec.cost.p80, cost_p95=spec.cost.p95,
        currency=spec.currency, timeline_p50=spec.timeline.p50, timeline_p80=spec.timeline.p80,
        timeline_p95=spec.timeline.p95, cost_breakdown_template=dict(spec.breakdown),
        regional_multipliers=dict(spec.regional_multipliers), is_synthetic=spec.is_synthetic,
        validation_source=spec.validation_source)


async def seed_platform(db: Database) -> int:
    """Insert the platform classes that are missing (by name); safe to run from several processes
    at once: the partial unique index turns a concurrent duplicate into a no-op."""
    specs = priors.platform_classes()
    async with db.session() as session:
        session.info["actor"] = "system:seed"
        have = set((await session.execute(select(ReferenceClass.name).where(
            ReferenceClass.tenant_id.is_(None), ReferenceClass.deleted_at.is_(None)))).scalars())
        todo = [s for s in specs if s.name not in have]
        if not todo:
            return 0
        session.add_all([_from_spec(s, None) for s in todo])
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            log.info("platform reference classes were seeded by another process")
            return 0
    log.info("seeded %d platform reference classes", len(todo))
    return len(todo)


async def visible(scope: Scope) -> list[ReferenceClass]:
    """The classes a tenant estimates with: its own and the platform's, a platform class hidden
    by a tenant class of the same name (an admin's tuned copy overrides it)."""
    rows = (await scope.session.execute(scope.select_shared(ReferenceClass).order_by(
        ReferenceClass.created_at, ReferenceClass.id))).scalars().all()
    own = {r.name for r in rows if r.tenant_id is not None}
    return [r for r in rows if r.tenant_id is not None or r.name not in own]


# Changes whenever the classes a tenant sees change (the matcher cache's key): their count and
# latest update, as one string. Deleted rows count too: a deletion bumps updated_at.
STAMP = select(func.count(ReferenceClass.id).cast(String) + "|" + func.coalesce(
    func.max(ReferenceClass.updated_at).cast(String), "")).where(
    (ReferenceClass.tenant_id == TENANT) | ReferenceClass.tenant_id.is_(None)).scalar_subquery()


async def get_visible(scope: Scope, class_id: str) -> ReferenceClass:
    row: ReferenceClass = await scope.one(scope.select_shared(ReferenceClass).where(
        ReferenceClass.id == class_id), f"reference class {class_id}")
    return row


async def _own(scope: Scope, class_id: str) -> ReferenceClass:
    row = await get_visible(scope, class_id)
    if row.tenant_id is None:
        raise Forbidden("platform reference classes cannot be changed; create a class of your own instead",
                        code="platform_class")
    return row


async def _check_cap(scope: Scope, adding: int) -> None:
    tier = scope.principal.tier
    cap = TIER_CLASS_CAP.get(tier, 0)
    if cap is None:
        return
    if cap == 0:
        raise Forbidden(f"the {tier} tier estimates with the platform's reference classes only; "
                        "custom classes need the pro or enterprise tier", code="tier_limit")
    have = await scope.count(ReferenceClass)
    if have + adding > cap:
        raise Forbidden(f"the {tier} tier allows {cap} custom reference classes; you have {have}",
                        code="tier_limit")


def check(cost: Quantiles, timeline: Quantiles, breakdown: dict[str, float],
          multipliers: dict[str, float]) -> None:
    problems = priors.validate_class(cost, timeline, breakdown, multipliers)
    if problems:
        raise Invalid("; ".join(f"{f}: {m}" for f, m in problems),
                      fields=[{"field": f, "message": m} for f, m in problems])


async def create(scope: Scope, data: dict[str, Any]) -> ReferenceClass:
    cost = Quantiles(**{k.lower(): v for k, v in data["cost_distribution"].items() if k != "currency"})
    timeline = Quantiles(**{k.lower(): v for k, v in data["timeline_distribution"].items() if k != "unit"})
    check(cost, timeline, data["cost_breakdown_template"], data["regional_multipliers"])
    await _check_cap(scope, 1)
    row = ReferenceClass(
        category=data["category"], subcategory=data["subcategory"], name=data["name"],
        description=data["description"], keywords=data["keywords"], regions=data["regions"],
        attributes=data["attributes"], cost_p50=cost.p50, cost_p80=cost.p80, cost_p95=cost.p95,
        currency=data["cost_distribution"]["currency"], timeline_p50=timeline.p50, timeline_p80=timeline.p80,
        timeline_p95=timeline.p95, cost_breakdown_template=data["cost_breakdown_template"],
        regional_multipliers=data["regional_multipliers"], is_synthetic=False,
        validation_source=data["validation_source"])
    scope.add(row)
    await scope.session.flush()
    return row


async def update(scope: Scope, class_id: str, data: dict[str, Any]) -> ReferenceClass:
    row = await _own(scope, class_id)
    cost, timeline = cost_of(row), timeline_of(row)
    if data.get("cost_distribution") is not None:
        d = data["cost_distribution"]
        cost = Quantiles(d["P50"], d["P80"], d["P95"])
    if data.get("timeline_distribution") is not None:
        d = data["timeline_distribution"]
        timeline = Quantiles(d["P50"], d["P80"], d["P95"])
    breakdown = data.get("cost_breakdown_template") or row.cost_breakdown_template
    multipliers = data.get("regional_multipliers")
    check(cost, timeline, breakdown, multipliers if multipliers is not None else row.regional_multipliers)
    for key in ("description", "keywords", "regions", "attributes", "cost_breakdown_template",
                "regional_multipliers", "validation_source"):
        if data.get(key) is not None:
            setattr(row, key, data[key])
    row.cost_p50, row.cost_p80, row.cost_p95 = cost.p50, cost.p80, cost.p95
    row.timeline_p50, row.timeline_p80, row.timeline_p95 = timeline.p50, timeline.p80, timeline.p95
    await scope.session.flush()
    return row


async def delete(scope: Scope, class_id: str) -> None:
    row = await _own(scope, class_id)
    scope.soft_delete(row)
    await scope.session.flush()


async def generate(scope: Scope, data: dict[str, Any]) -> list[ReferenceClass]:
    try:
        specs = priors.generate(data["category"], data["subcategories"], data["regions"],
                                data["count_per_subcategory"], data["seed"])
    except ValueError as exc:
        msg = str(exc)
        field = ("subcategories" if msg.startswith("unknown subcategory") else
                 "regions" if msg.startswith("unknown region") else
                 "category" if msg.startswith("unknown category") else "count_per_subcategory")
        raise Invalid(str(exc), fields=[{"field": field, "message": str(exc)}]) from exc
    await _check_cap(scope, len(specs))
    taken = set((await scope.session.execute(scope.select(ReferenceClass).with_only_columns(
        ReferenceClass.name))).scalars())
    rows = []
    for spec in specs:
        row = _from_spec(spec, scope.tenant_id)
        # Generated again with another seed: keep both, told apart by the seed.
        if row.name in taken:
            row.name = f"{row.name} (seed {data['seed']})"
        taken.add(row.name)
        scope.add(row)
        rows.append(row)
    await scope.session.flush()
    return rows


async def copy_for_tenant(scope: Scope, platform: ReferenceClass) -> ReferenceClass:
    """A tenant's own copy of a platform class (same name: it overrides the platform one)."""
    await _check_cap(scope, 1)
    row = ReferenceClass(**{c: getattr(platform, c) for c in (
        "category", "subcategory", "name", "description", "keywords", "regions", "attributes", "cost_p50",
        "cost_p80", "cost_p95", "currency", "timeline_p50", "timeline_p80", "timeline_p95", "timeline_unit",
        "cost_breakdown_template", "regional_multipliers", "is_synthetic", "validation_source")})
    scope.add(row)
    await scope.session.flush()
    return row


def ids(rows: Sequence[ReferenceClass]) -> list[str]:
    return [r.id for r in rows]
