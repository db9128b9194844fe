"""Pricing experiments: planned price changes, new tiers and bundles, with the impact the models
predict (analytics.experiments_model) and, once running, the actual data against that prediction.

The prediction is made as of the start: from the data before the start month (all data while no
start date is set), over a window beginning at the start month. It is recomputed when the
pricing, the baseline plan, the target segments or the start date change, and kept otherwise, so
later data are compared with what was predicted, not with a refit.

A new price must be within 1/100..100 times the baseline price (422 naming the field); a model that
cannot answer (a history that cannot be forecast, figures out of range) gives a prediction marked
unavailable with the reason, never an error."""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from pricewise.analytics import experiments_model as em
from pricewise.analytics import scenarios_service as ss
from pricewise.analytics.elasticity import MAX_PRICE_RATIO, Elasticity
from pricewise.analytics.forecast import Z
from pricewise.analytics.models import PricingExperiment
from pricewise.analytics.pair_data import PairData
from pricewise.analytics.scenarios import Paths, months_between
from pricewise.analytics.series import month_start, next_month
from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.errors import Conflict, invalid
from pricewise.core.events import emit
from pricewise.core.schemas import _iso_z, _no_controls, as_day, iso_day
from pricewise.core.tenancy import Scope

NEXT = {"draft": {"running", "cancelled"}, "running": {"completed", "cancelled"}, "completed": set(),
        "cancelled": set()}
KEYS = {"price_change": {"unit_price"}, "new_tier": {"plan_name", "unit_price", "expected_share"},
        "bundling": {"plan_ids", "bundle_price", "discount"}}
DEFAULT_SHARE = 0.10
MAX_GAP = 120  # months of forecast between the end of the data and the start
PRICING_FIELDS = ("experiment_type", "baseline_pricing", "experimental_pricing", "target_segments")
_HEX24 = re.compile(r"^[0-9a-fA-F]{24}$")


def _conflict(field: str, message: str) -> Conflict:
    return Conflict(f"{field}: {message}", fields=[{"field": field, "message": message}])


def to_day(field: str, v: date | datetime | None) -> date | None:
    """The UTC day of a wire date; 422 naming the field outside 1900..2200."""
    if v is None:
        return None
    d = as_day(v)
    if not 1900 <= d.year <= 2200:
        raise invalid(field, "must fall between the years 1900 and 2200")
    return d


# ---- validation ----

def _number(raw: dict[str, Any], key: str, *, required: bool, lo: float, hi: float,
            lo_open: bool = False, hi_open: bool = False) -> float | None:
    field = f"experimental_pricing.{key}"
    v = raw.get(key)
    if v is None:
        if required:
            raise invalid(field, "is required for this experiment type")
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise invalid(field, "must be a finite number")
    try:
        x = float(v)  # an int of 400 digits is beyond any float
    except (OverflowError, ValueError, TypeError):
        raise invalid(field, "must be a finite number") from None
    if not math.isfinite(x):
        raise invalid(field, "must be a finite number")
    if x < lo or (lo_open and x == lo) or x > hi or (hi_open and x == hi):
        raise invalid(field, f"must be {'>' if lo_open else '>='} {lo:g} and {'<' if hi_open else '<='} {hi:g}")
    return x


async def check_pricing(scope: Scope, kind: str, raw: dict[str, Any], baseline_id: str) -> dict[str, Any]:
    """The experimental pricing of one type, normalised; `description` is free text for any type."""
    unknown = sorted(set(raw) - KEYS[kind] - {"description"})
    if unknown:
        raise invalid(f"experimental_pricing.{unknown[0]}", f"is not a field of a {kind} experiment "
                      f"(expected {', '.join(sorted(KEYS[kind]))})")
    out: dict[str, Any] = {}
    if "description" in raw:
        d = raw["description"]
        if not isinstance(d, str) or len(d) > 5000:
            raise invalid("experimental_pricing.description", "must be text of at most 5000 characters")
        out["description"] = _no_controls(d)
    if kind in ("price_change", "new_tier"):
        out["unit_price"] = _number(raw, "unit_price", required=True, lo=0, hi=1e9, lo_open=True)
    if kind == "new_tier":
        name = raw.get("plan_name")
        if not isinstance(name, str) or not name.strip() or len(name) > 200:
            raise invalid("experimental_pricing.plan_name", "must be a name of 1 to 200 characters")
        out["plan_name"] = _no_controls(name.strip())
        share = _number(raw, "expected_share", required=False, lo=0, hi=1)
        if share is not None:
            out["expected_share"] = share
    if kind == "bundling":
        ids = raw.get("plan_ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) and _HEX24.match(i) for i in ids):
            raise invalid("experimental_pricing.plan_ids", "must be a list of pricing plan ids")
        ids = list(dict.fromkeys(ids))
        if not 2 <= len(ids) <= 20:
            raise invalid("experimental_pricing.plan_ids", "must name 2 to 20 different plans")
        if baseline_id not in ids:
            raise invalid("experimental_pricing.plan_ids", "must include the baseline plan (baseline_pricing)")
        for i in ids:
            await scope.get(PricingPlan, i, label="pricing plan")
        out["plan_ids"] = ids
        out["bundle_price"] = _number(raw, "bundle_price", required=True, lo=0, hi=1e9, lo_open=True)
        discount = _number(raw, "discount", required=False, lo=0, hi=1, hi_open=True)
        if discount is not None:
            out["discount"] = discount
    return out


async def _check_refs(scope: Scope, product_id: str | None, plan_id: str, segments: list[str]) -> str | None:
    """404 for unknown or another workspace's ids; 422 for a plan or segment of another product.
    Returns the experiment's product (the plan's when none is given)."""
    if product_id:
        await scope.get(Product, product_id, label="product")
    plan = await scope.get(PricingPlan, plan_id, label="pricing plan")
    if product_id and plan.product_id and plan.product_id != product_id:
        raise invalid("baseline_pricing", "belongs to another product")
    product_id = product_id or plan.product_id
    for i, sid in enumerate(segments):
        seg = await scope.get(CustomerSegment, sid, label="customer segment")
        if product_id and seg.product_id and seg.product_id != product_id:
            raise invalid(f"target_segments.{i}", "belongs to another product")
    return product_id


def _check_dates(start: date | None, end: date | None) -> None:
    for field, d in (("start_date", start), ("end_date", end)):
        if d is not None and not 1900 <= d.year <= 2200:
            raise invalid(field, "must fall between the years 1900 and 2200")
    if start and end and end < start:
        raise invalid("end_date", f"is before start_date ({start.isoformat()})")


# ---- prediction ----

def _elasticity_out(e: Elasticity) -> dict[str, Any]:
    lo, hi = e.interval(Z[80])
    return {"value": e.value, "sd": e.sd, "source": e.source, "n": e.n, "price_changes": e.price_changes,
            "interval80": [lo, hi]}


def _elasticity_text(name: str, e: Elasticity) -> str:
    if e.source == "prior":
        return (f"elasticity of {name}: the prior {e.value:g} (sd {e.sd:g}), because the price never changed in "
                f"the data ({e.n} months), so the data say nothing about the response")
    extra = ", combined with the prior because the estimate alone was uncertain" if e.source != "regression" else ""
    return (f"elasticity of {name}: {e.value:.2f} (sd {e.sd:.2f}) from a log-log regression over {e.n} months "
            f"with {e.price_changes} price change(s){extra}")


def _unavailable(reason: str) -> dict[str, Any]:
    return {"available": False, "reason": reason, "computed_at": _iso_z(utcnow())}


def _finite(v: Any) -> bool:
    """Whether every number in a JSON-like structure is finite (JSON has no inf or NaN)."""
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, dict):
        return all(_finite(x) for x in v.values())
    if isinstance(v, list | tuple):
        return all(_finite(x) for x in v)
    return True


OUT_OF_RANGE = "the figures are too large to represent: the history holds values out of range"


def _price_range(kind: str, pricing: dict[str, Any], p0: list[float]) -> tuple[str, str] | None:
    """(field, message) when the new price is outside 1/100..100 of the baseline price: beyond
    that, constant elasticity says nothing (and the demand ratio overflows)."""
    if kind == "bundling":
        field, new, old, what = ("experimental_pricing.bundle_price", pricing["bundle_price"], sum(p0),
                                 "the sum of the bundled plans' list prices")
    else:
        field, new, old, what = "experimental_pricing.unit_price", pricing["unit_price"], p0[0], "the baseline price"
    if old <= 0 or 1 / MAX_PRICE_RATIO <= new / old <= MAX_PRICE_RATIO:
        return None
    return field, f"must be within {1 / MAX_PRICE_RATIO:g}x to {MAX_PRICE_RATIO:g}x of {what} ({old:g})"


def _band(t: tuple[float, float, float]) -> dict[str, float]:
    return {"value": t[0], "lower80": t[1], "upper80": t[2]}


def _rows(months: list[date], rev: em.Band, subs: em.Band, base: em.Impact | None = None) -> list[dict[str, Any]]:
    out = []
    for i, m in enumerate(months):
        row = {"date": iso_day(m), "revenue": rev.mean[i], "revenue_lower80": rev.lo[i],
               "revenue_upper80": rev.hi[i], "subscriptions": subs.mean[i], "subscriptions_lower80": subs.lo[i],
               "subscriptions_upper80": subs.hi[i]}
        if base is not None:
            row |= {"baseline_revenue": base.baseline_revenue[i],
                    "baseline_subscriptions": base.baseline_subscriptions[i]}
        out.append(row)
    return out


async def predict(scope: Scope, kind: str, plan_id: str, pricing: dict[str, Any], segments: list[str],
                  start: date | None, horizon: int, *, strict: bool = True) -> dict[str, Any]:
    """`strict`: the pricing is being set now, so a price out of range is the request's error (422);
    otherwise (a new start date) the prediction says why it is unavailable."""
    cutoff = month_start(start) if start else None
    plan_ids = pricing["plan_ids"] if kind == "bundling" else [plan_id]
    plans = [await scope.get(PricingPlan, i, label="pricing plan") for i in plan_ids]
    data: list[PairData] = [await ss.plan_series(scope, p, segments or None, None, cutoff) for p in plans]
    # p0: the list price in force in the last month of data (today's list price without data).
    p0 = [d.prices[-1] if d.prices else float(p.unit_price) for p, d in zip(plans, data, strict=True)]
    problem = _price_range(kind, pricing, p0)
    if problem and strict:
        raise invalid(*problem)
    if problem:
        return _unavailable(f"{problem[0]} {problem[1]}")
    before = f" before the start month {cutoff.isoformat()}" if cutoff else ""
    missing = [p.plan_name for p, d in zip(plans, data, strict=True) if not d.subscriptions.values]
    if missing:
        return _unavailable(f"no subscription history{before} for {', '.join(missing)}"
                            + (" in the target segments" if segments else "")
                            + ": load /api/analytics/segment-contribution data first")
    free = [p.plan_name for p, price in zip(plans, p0, strict=True) if price <= 0]
    if free:
        return _unavailable(f"{', '.join(free)} is free (price 0): a price response needs a positive price")
    lasts = [m for d in data if (m := ss.last_month(d)) is not None]
    first = cutoff or next_month(max(lasts))
    if months_between(min(lasts), first) - 1 > MAX_GAP:
        return _unavailable(f"the data end more than {MAX_GAP} months before the start")
    try:
        paths = [_paths(p, d, first, horizon) for p, d in zip(plans, data, strict=True)]
        els = [ss.elasticity_of(d) for d in data]
    except ValueError as exc:
        return _unavailable(str(exc))
    costs = [None if p.cogs_per_unit is None else float(p.cogs_per_unit) for p in plans]
    assumptions = ["demand follows q = A * p^e (constant elasticity) around the current price"]
    assumptions += [_elasticity_text(p.plan_name, e) for p, e in zip(plans, els, strict=True)]
    extra: dict[str, Any] = {}
    if kind == "price_change":
        p1 = pricing["unit_price"]
        parts = [em.Part(plans[0].plan_name, plans[0].id, paths[0], 1.0, p0[0], p1, els[0], costs[0])]
        extra = {"baseline_price": p0[0], "experimental_price": p1, "price_change": p1 / p0[0] - 1}
    elif kind == "new_tier":
        pt, share = pricing["unit_price"], pricing.get("expected_share")
        if share is None:
            share = DEFAULT_SHARE
            assumptions.append(f"expected_share not given: {DEFAULT_SHARE:.0%} of the baseline plan's "
                               "subscriptions assumed to move to the tier")
        else:
            assumptions.append(f"{share:.0%} of the baseline plan's subscriptions move to the tier")
        assumptions.append("those moving respond to the tier's price through the baseline plan's elasticity; "
                           "the tier costs the same per unit")
        parts = [em.Part(plans[0].plan_name, plans[0].id, paths[0], 1 - share, p0[0], p0[0], els[0], costs[0]),
                 em.Part(pricing["plan_name"], plans[0].id, paths[0], share, p0[0], pt, els[0], costs[0],
                         tracked=False)]
        extra = {"baseline_price": p0[0]}
    else:
        total = sum(p0)
        k = pricing["bundle_price"] / total
        parts = [em.Part(p.plan_name, p.id, path, 1.0, price, price * k, e, c)
                 for p, path, price, e, c in zip(plans, paths, p0, els, costs, strict=True)]
        implied = 1 - k
        extra = {"bundle": {"bundle_price": pricing["bundle_price"], "list_price_sum": total, "price_ratio": k,
                            "implied_discount": implied, "stated_discount": pricing.get("discount")}}
        assumptions.append(f"every bundled plan sees the bundle's relative price {k:.3f} (bundle price / sum of "
                           "list prices) through its own elasticity; the bundle revenue is shared pro rata to "
                           "list prices")
        stated = pricing.get("discount")
        if stated is not None and abs(stated - implied) > 0.005:
            assumptions.append(f"the stated discount {stated:.1%} differs from the implied {implied:.1%}: the "
                               "bundle price decides")
    try:
        imp = em.impact(parts)
    except ValueError as exc:
        return _unavailable(f"the model cannot predict this experiment: {exc}")
    assumptions.append("each plan's baseline is its own forecast at its current price (model chosen by backtest), "
                       f"made from data through {max(lasts).isoformat()}")
    assumptions.append("data of the target segments only" if segments else "data of all the plan's segments")
    if any(c is None for c in costs):
        assumptions.append("no unit cost recorded for some plan: its margin is taken as revenue")
    assumptions += [f"{p.plan_name}: {n}" for p, path in zip(plans, paths, strict=True) for n in path.notes]
    part_out = []
    for pp in imp.parts:
        pa = pp.part
        part_out.append({"label": pa.label, "plan_id": pa.plan_id, "share": pa.share, "current_price": pa.old_price,
                         "new_price": pa.new_price, "unit_cost": pa.unit_cost, "demand_ratio": pp.ratio[0],
                         "demand_ratio80": [pp.ratio[1], pp.ratio[2]], "elasticity": _elasticity_out(pa.elasticity),
                         "revenue": sum(pp.revenue.mean), "subscriptions": sum(pp.subscriptions.mean) / len(imp.months),
                         "tracked": pa.tracked})
    if kind == "new_tier":
        tier = part_out[1]
        extra["tier"] = {"plan_name": pricing["plan_name"], "unit_price": pricing["unit_price"],
                         "expected_share": share,
                         "demand_ratio": tier["demand_ratio"], "demand_ratio80": tier["demand_ratio80"],
                         "revenue": tier["revenue"], "subscriptions": tier["subscriptions"]}
    weights = [sum(path.revenue) for path in paths]
    wsum = sum(weights) or 1.0
    e_value = sum(w * e.value for w, e in zip(weights, els, strict=True)) / wsum
    e_sd = sum(w * e.sd for w, e in zip(weights, els, strict=True)) / wsum
    sources = {e.source for e in els}
    elasticity = _elasticity_out(els[0]) if len(els) == 1 else {
        "value": e_value, "sd": e_sd, "source": sources.pop() if len(sources) == 1 else "mixed",
        "interval80": [e_value - Z[80] * e_sd, e_value + Z[80] * e_sd],
        "basis": "baseline-revenue-weighted average of the bundled plans' elasticities (each plan uses its own)"}
    n = len(imp.months)
    out = {
        "available": True, "computed_at": _iso_z(utcnow()),
        "method": "constant-elasticity demand applied to each plan's baseline forecast",
        "data_through": iso_day(max(lasts)), "window_start": iso_day(first), "horizon_months": n,
        **extra, "elasticity": elasticity, "parts": part_out,
        "baseline": {"revenue": sum(imp.baseline_revenue), "subscriptions": sum(imp.baseline_subscriptions) / n,
                     "margin": sum(imp.baseline_margin)},
        "expected": {"revenue": _band(imp.revenue.totals()), "subscriptions": _band(imp.subscriptions.averages()),
                     "margin": _band(imp.margin.totals())},
        "change": {m: imp.change(m) for m in ("revenue", "subscriptions", "margin")},
        "projection": _rows(imp.months, imp.revenue, imp.subscriptions, imp),
        "tracked": {"plans": list(dict.fromkeys(pp.part.plan_id for pp in imp.parts if pp.part.tracked)),
                    "projection": _rows(imp.months, imp.tracked_revenue, imp.tracked_subscriptions)},
        "assumptions": assumptions,
    }
    return out if _finite(out) else _unavailable(OUT_OF_RANGE)


def _paths(plan: PricingPlan, data: PairData, first: date, horizon: int) -> Paths:
    try:
        return ss.paths_of(data, first, horizon)
    except ValueError as exc:
        raise ValueError(f"{plan.plan_name}: {exc}") from None


# ---- actual results ----

async def _actuals(scope: Scope, x: PricingExperiment) -> dict[str, Any]:
    assert x.start_date is not None
    start = month_start(x.start_date)
    end = month_start(x.end_date) if x.end_date else None
    out: dict[str, Any] = {"computed_at": _iso_z(utcnow()), "since": iso_day(start), "until": iso_day(end)}
    pred = x.predicted_impact or {}
    tracked = pred.get("tracked") if pred.get("available") else None
    plan_ids = tracked["plans"] if tracked else [x.baseline_plan_id]
    plans = [await scope.get(PricingPlan, i, include_deleted=True, label="pricing plan") for i in plan_ids]
    per_metric: dict[str, dict[date, float]] = {}
    for metric in ("revenue", "subscriptions"):
        series: list[dict[date, float]] = []
        for p in plans:
            d = await ss.plan_series(scope, p, x.target_segments or None)
            m = d.revenue if metric == "revenue" else d.subscriptions
            series.append({k: v for k, v in zip(m.months, m.values, strict=True)
                           if k >= start and (end is None or k <= end)})
        common = set.intersection(*(set(s) for s in series)) if series else set()
        per_metric[metric] = {k: sum(s[k] for s in series) for k in sorted(common)}
    out["plans"] = plan_ids
    base = dict(out)
    if not per_metric["revenue"] and not per_metric["subscriptions"]:
        return {**out, "status": "no_data", "message": f"no revenue or subscription data since the start "
                f"({start.isoformat()}) for the tracked plan(s) yet"}
    actual = [{"date": iso_day(d), "revenue": per_metric["revenue"].get(d),
               "subscriptions": per_metric["subscriptions"].get(d)}
              for d in sorted(set(per_metric["revenue"]) | set(per_metric["subscriptions"]))]
    if tracked is None:
        out |= {"status": "no_prediction", "actual": actual,
                "message": "no predicted impact to compare with: " + str(pred.get("reason", "none was computed"))}
    else:
        cmp = em.compare(tracked["projection"], per_metric["revenue"], per_metric["subscriptions"])
        window = {r["date"] for r in tracked["projection"]}
        beyond = [a["date"] for a in actual if a["date"] not in window]
        out |= {"status": "compared" if cmp["months"] else "outside_window", **cmp}
        if beyond:
            out["note"] = f"{len(beyond)} month(s) of data fall outside the predicted window and are not compared"
        if x.experiment_type == "new_tier":
            out["scope"] = "the baseline plan, predicted to keep the share that does not move to the new tier"
    # Sums of out-of-range history overflow; JSON (and the database's JSON column) has no inf.
    return out if _finite(out) else {**base, "status": "unavailable", "message": OUT_OF_RANGE}


# ---- CRUD ----

async def create(scope: Scope, data: dict[str, Any], horizon: int) -> PricingExperiment:
    segments = list(dict.fromkeys(data.get("target_segments") or []))
    product_id = await _check_refs(scope, data.get("product"), data["baseline_pricing"], segments)
    kind = data["experiment_type"]
    pricing = await check_pricing(scope, kind, data["experimental_pricing"], data["baseline_pricing"])
    start, end = to_day("start_date", data.get("start_date")), to_day("end_date", data.get("end_date"))
    status = data.get("status") or "draft"
    if status == "running" and start is None:
        start = utcnow().date()
    _check_dates(start, end)
    predicted = await predict(scope, kind, data["baseline_pricing"], pricing, segments, start, horizon)
    x = scope.add(PricingExperiment(
        name=data["name"], product_id=product_id, experiment_type=kind, hypothesis=data.get("hypothesis") or "",
        target_segments=segments, baseline_plan_id=data["baseline_pricing"], experimental_pricing=pricing,
        predicted_impact=predicted, status=status, start_date=start, end_date=end,
        created_by=scope.principal.actor))
    await scope.session.flush()
    emit(scope.session, scope.tenant_id, "experiment_updated", {"id": x.id, "status": x.status})
    return x


async def update(scope: Scope, experiment_id: str, changes: dict[str, Any], horizon: int) -> PricingExperiment:
    x = await scope.get(PricingExperiment, experiment_id, label="experiment")
    for key in ("name", "experiment_type", "baseline_pricing", "experimental_pricing", "status"):
        if key in changes and changes[key] is None:
            raise invalid(key, "cannot be null")
    if "target_segments" in changes:
        changes["target_segments"] = list(dict.fromkeys(changes["target_segments"] or []))
    for key in ("start_date", "end_date"):
        if key in changes:
            changes[key] = to_day(key, changes[key])
    # A client may echo the whole entity back: only values that differ count as changes.
    current = {"experiment_type": x.experiment_type, "baseline_pricing": x.baseline_plan_id,
               "experimental_pricing": x.experimental_pricing, "target_segments": list(x.target_segments),
               "start_date": x.start_date, "end_date": x.end_date}
    differs = [k for k in current if k in changes and changes[k] != current[k]]
    pricing_changed = any(k in differs for k in PRICING_FIELDS)
    if pricing_changed and x.status != "draft":
        field = next(k for k in PRICING_FIELDS if k in differs)
        raise _conflict(field, f"can change only while the experiment is a draft; it is {x.status}")
    if x.status in ("completed", "cancelled") and {"start_date", "end_date"} & set(differs):
        raise _conflict("start_date" if "start_date" in differs else "end_date",
                        f"the experiment is {x.status}: its dates are final")
    status = changes.get("status", x.status)
    if status != x.status and status not in NEXT[x.status]:
        raise _conflict("status", f"cannot go from {x.status} to {status}")
    kind = changes.get("experiment_type", x.experiment_type)
    plan_id = changes.get("baseline_pricing", x.baseline_plan_id)
    segments = changes.get("target_segments", list(x.target_segments))
    if pricing_changed:
        await _check_refs(scope, x.product_id, plan_id, segments)
        if "experimental_pricing" not in changes and kind != x.experiment_type:
            raise invalid("experimental_pricing", f"is required when experiment_type changes to {kind}")
    raw = changes.get("experimental_pricing", x.experimental_pricing)
    pricing = await check_pricing(scope, kind, raw, plan_id) if pricing_changed else x.experimental_pricing
    start, end = changes.get("start_date", x.start_date), changes.get("end_date", x.end_date)
    today = utcnow().date()
    if status == "running" and start is None:
        start = today
    if status == "completed" and end is None:
        end = max(today, start) if start else today
    _check_dates(start, end)
    if status in ("running", "completed") and start is None:
        raise invalid("start_date", f"a {status} experiment needs a start date")
    # A draft whose prediction had no data yet is predicted again on any edit.
    stale = x.status == "draft" and not (x.predicted_impact or {}).get("available")
    restart = start != x.start_date or stale
    if "name" in changes:
        x.name = changes["name"]
    if "hypothesis" in changes:
        x.hypothesis = changes["hypothesis"] or ""
    x.experiment_type, x.baseline_plan_id, x.target_segments = kind, plan_id, segments
    x.experimental_pricing, x.start_date, x.end_date = pricing, start, end
    if pricing_changed or restart:
        x.predicted_impact = await predict(scope, kind, plan_id, pricing, segments, start, horizon,
                                           strict=pricing_changed)
    moved = status != x.status
    x.status = status
    if moved and status == "completed":
        x.actual_results = await _actuals(scope, x)
    await scope.session.flush()
    if moved:
        emit(scope.session, scope.tenant_id, "experiment_updated", {"id": x.id, "status": x.status})
    return x


async def results(scope: Scope, experiment_id: str) -> PricingExperiment:
    x = await scope.get(PricingExperiment, experiment_id, label="experiment")
    if x.status not in ("running", "completed") or x.start_date is None:
        raise _conflict("status", f"results need a running or completed experiment; this one is {x.status}")
    x.actual_results = await _actuals(scope, x)
    await scope.session.flush()
    return x


async def delete(scope: Scope, experiment_id: str) -> None:
    scope.soft_delete(await scope.get(PricingExperiment, experiment_id, label="experiment"))


async def listing(scope: Scope, product_id: str | None, status: str | None, limit: int,
                  offset: int) -> tuple[list[PricingExperiment], int]:
    filters = []
    if product_id:
        filters.append(PricingExperiment.product_id == product_id)
    if status:
        filters.append(PricingExperiment.status == status)
    rows = await scope.list(PricingExperiment, *filters, order_by=PricingExperiment.created_at.desc(),
                            limit=limit, offset=offset)
    return list(rows), await scope.count(PricingExperiment, *filters)


def experiment_out(x: PricingExperiment) -> dict[str, Any]:
    return {
        "_id": x.id, "name": x.name, "product": x.product_id, "experiment_type": x.experiment_type,
        "hypothesis": x.hypothesis, "target_segments": list(x.target_segments),
        "baseline_pricing": x.baseline_plan_id, "experimental_pricing": x.experimental_pricing,
        "predicted_impact": x.predicted_impact, "actual_results": x.actual_results, "status": x.status,
        "start_date": iso_day(x.start_date), "end_date": iso_day(x.end_date), "created_by": x.created_by,
        "created_at": _iso_z(x.created_at), "updated_at": _iso_z(x.updated_at),
    }
