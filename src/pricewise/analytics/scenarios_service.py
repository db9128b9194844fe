"""What-if scenarios of a product: each plan's baseline forecast under optimistic, realistic or
pessimistic assumptions (analytics.scenarios), stored as made. Also the data helpers the
experiments share: a plan's series within some segments, cut at a month, and its baseline paths."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select

from pricewise.analytics import pair_data
from pricewise.analytics import scenarios as sc
from pricewise.analytics.elasticity import Elasticity, estimate
from pricewise.analytics.models import Contribution, Scenario
from pricewise.analytics.pair_data import PairData
from pricewise.analytics.price_response import price_by_month
from pricewise.analytics.series import Monthly, next_month
from pricewise.catalog.models import PricingPlan, Product
from pricewise.core.errors import invalid
from pricewise.core.events import emit
from pricewise.core.schemas import _iso_z, iso_day
from pricewise.core.tenancy import Scope


def _sum(series: list[Monthly], before: date | None) -> Monthly:
    acc: dict[date, float] = {}
    for m in series:
        for d, v in zip(m.months, m.values, strict=True):
            if before is None or d < before:
                acc[d] = acc.get(d, 0.0) + v
    months = sorted(acc)
    return Monthly(months, [acc[d] for d in months], [])


async def plan_series(scope: Scope, plan: PricingPlan, segment_ids: list[str] | None = None,
                      product_id: str | None = None, before: date | None = None) -> PairData:
    """The plan's monthly series within the given segments (all when none), summed, keeping the
    months before `before`; the list price in force each month."""
    segments: list[str | None] = list(segment_ids) if segment_ids else [None]
    loaded = [await pair_data.load(scope, plan, s, product_id) for s in segments]
    if len(loaded) == 1 and before is None:
        return loaded[0]
    revenue = _sum([d.revenue for d in loaded], before)
    subs = _sum([d.subscriptions for d in loaded], before)
    prices = price_by_month(subs.months, await pair_data.price_changes(scope, plan.id), float(plan.unit_price))
    return PairData(plan, [i for d in loaded for i in d.contribution_ids], revenue, subs, prices)


def last_month(data: PairData) -> date | None:
    ends = [m.months[-1] for m in (data.revenue, data.subscriptions) if m.months]
    return max(ends) if ends else None


def elasticity_of(data: PairData) -> Elasticity:
    if not data.subscriptions.values:
        return sc.PRIOR
    return estimate(data.subscriptions.values, data.prices, [m.month - 1 for m in data.subscriptions.months])


def paths_of(data: PairData, first: date, horizon: int) -> sc.Paths:
    """Raises ValueError when a series cannot be forecast (the message says which)."""
    last = last_month(data)
    if last is None:
        raise ValueError("no data")
    # Without revenue history: subscriptions x the list price in force in the last month of data,
    # the experiments' p0 too (a later change of the plan's price is not in the data yet).
    price = data.prices[-1] if data.prices else data.current_price
    unit = price * max(data.plan.min_unit_count, 1)
    return sc.baseline_paths(data.subscriptions.values, data.revenue.values, last, first, horizon, unit)


# ---- scenarios ----

async def _product_plans(scope: Scope, product_id: str) -> list[tuple[PricingPlan, PairData]]:
    """The product's plans (its own, and any with contributions filed under it) that hold data."""
    own = list(await scope.list(PricingPlan, PricingPlan.product_id == product_id))
    stmt = scope.where(select(Contribution.plan_id).where(Contribution.product_id == product_id,
                                                          Contribution.deleted_at.is_(None)), Contribution)
    extra = set((await scope.session.execute(stmt)).scalars()) - {p.id for p in own}
    if extra:
        own += list(await scope.list(PricingPlan, PricingPlan.id.in_(extra)))
    out = []
    for plan in own:
        data = await plan_series(scope, plan, None, None if plan.product_id == product_id else product_id)
        if last_month(data) is not None:
            out.append((plan, data))
    return out


async def plan_inputs(scope: Scope, product_id: str, horizon: int) -> tuple[list[sc.PlanInput], list[str]]:
    await scope.get(Product, product_id, label="product")
    pairs = await _product_plans(scope, product_id)
    if not pairs:
        raise invalid("product", "none of its pricing plans has revenue or subscription history: load "
                      "/api/analytics/segment-contribution data first")
    first = next_month(max(d for _, data in pairs if (d := last_month(data)) is not None))
    inputs = []
    for plan, data in pairs:
        try:
            paths = paths_of(data, first, horizon)
        except ValueError as exc:
            raise invalid("product", f"pricing plan {plan.plan_name} ({plan.id}): {exc}") from None
        inputs.append(sc.PlanInput(plan.id, plan.plan_name, paths, elasticity_of(data)))
    without = [p.name for p in inputs if p.paths.subscriptions is None]
    notes = [f"{', '.join(without)}: no subscription history, so revenue only"] if without else []
    return inputs, notes


def _projection_out(p: sc.Projection) -> dict[str, Any]:
    subs = p.subscriptions
    return {
        "projections": [{"date": iso_day(m), "value": v} for m, v in zip(p.months, p.revenue, strict=True)],
        "subscriptions_projections": [] if subs is None else [
            {"date": iso_day(m), "value": v} for m, v in zip(p.months, subs, strict=True)],
        "totals": {"revenue": p.revenue_total, "months": len(p.months),
                   "subscriptions_end": None if subs is None else subs[-1],
                   "subscriptions_average": None if subs is None else sum(subs) / len(subs)},
        "plans": [{"plan_id": x.plan_id, "plan_name": x.name, "demand_ratio": x.ratio,
                   "revenue": sum(x.revenue)} for x in p.plans],
    }


def _project(inputs: list[sc.PlanInput], kind: str, a: sc.Assumptions) -> sc.Projection:
    try:
        return sc.project(inputs, kind, a)
    except ValueError as exc:
        raise invalid("product", str(exc)) from None


def _assumptions(raw: dict[str, Any] | None, default_horizon: int) -> tuple[sc.Assumptions, dict[str, Any]]:
    raw = raw or {}
    a = sc.Assumptions(raw.get("growth_adjustment") or 0.0, raw.get("price_change") or 0.0,
                       raw.get("churn_adjustment") or 0.0)
    wire = {"growth_adjustment": a.growth_adjustment, "price_change": a.price_change,
            "churn_adjustment": a.churn_adjustment, "horizon": raw.get("horizon") or default_horizon}
    return a, wire


async def create(scope: Scope, data: dict[str, Any], default_horizon: int) -> Scenario:
    a, wire = _assumptions(data.get("assumptions"), default_horizon)
    inputs, notes = await plan_inputs(scope, data["product"], wire["horizon"])
    p = _project(inputs, data["scenario_type"], a)
    out = _projection_out(p)
    row = scope.add(Scenario(
        name=data["name"], product_id=data["product"], scenario_type=data["scenario_type"],
        assumptions={**wire, "notes": notes + sc.assumption_notes(a, inputs), "plans": out["plans"]},
        projections=[{"date": iso_day(m), "value": v, "subscriptions": None if p.subscriptions is None
                      else p.subscriptions[i]} for i, (m, v) in enumerate(zip(p.months, p.revenue, strict=True))],
        created_by=scope.principal.actor))
    await scope.session.flush()
    emit(scope.session, scope.tenant_id, "scenario_created", {"id": row.id, "product_id": row.product_id,
                                                              "scenario_type": row.scenario_type})
    return row


async def compare(scope: Scope, product_id: str, raw: dict[str, Any] | None, default_horizon: int) -> dict[str, Any]:
    """The three scenarios over the same baselines; computed, not stored."""
    a, wire = _assumptions(raw, default_horizon)
    inputs, notes = await plan_inputs(scope, product_id, wire["horizon"])
    return {"product": product_id, "assumptions": wire, "notes": notes + sc.assumption_notes(a, inputs),
            "scenarios": {kind: _projection_out(_project(inputs, kind, a)) for kind in sc.KINDS}}


def scenario_out(s: Scenario) -> dict[str, Any]:
    subs = [p.get("subscriptions") for p in s.projections]
    has_subs = bool(subs) and all(v is not None for v in subs)
    revenue = [float(p["value"]) for p in s.projections]
    return {
        "_id": s.id, "name": s.name, "product": s.product_id, "scenario_type": s.scenario_type,
        "assumptions": {k: s.assumptions.get(k) for k in ("growth_adjustment", "price_change", "churn_adjustment",
                                                           "horizon")},
        "projections": [{"date": p["date"], "value": p["value"]} for p in s.projections],
        "subscriptions_projections": [{"date": p["date"], "value": p["subscriptions"]} for p in s.projections]
        if has_subs else [],
        "totals": {"revenue": sum(revenue), "months": len(revenue),
                   "subscriptions_end": subs[-1] if has_subs else None,
                   "subscriptions_average": sum(float(v) for v in subs if v is not None) / len(subs)
                   if has_subs else None},
        "plans": s.assumptions.get("plans", []), "notes": s.assumptions.get("notes", []),
        "created_by": s.created_by, "created_at": _iso_z(s.created_at),
    }


async def listing(scope: Scope, product_id: str | None, scenario_type: str | None, limit: int,
                  offset: int) -> tuple[list[Scenario], int]:
    filters = []
    if product_id:
        filters.append(Scenario.product_id == product_id)
    if scenario_type:
        filters.append(Scenario.scenario_type == scenario_type)
    rows = await scope.list(Scenario, *filters, order_by=Scenario.created_at.desc(), limit=limit, offset=offset)
    return list(rows), await scope.count(Scenario, *filters)


async def delete(scope: Scope, scenario_id: str) -> None:
    scope.soft_delete(await scope.get(Scenario, scenario_id, label="scenario"))
