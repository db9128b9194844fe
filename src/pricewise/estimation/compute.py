"""An estimate from a reference class and the project's details. Pure: no web, no database.

    cost     = class quantiles x regional multiplier x attribute adjustments x calibration
    timeline = class quantiles x (attribute adjustments)^TIMELINE_ELASTICITY x calibration

Attribute adjustments (all documented in docs/estimation.md, figures in priors_data.py):
- size: (size / typical)^exponent, size clamped to the subcategory's bounds; the typical size is the
  class's own `typical_size_sqft` attribute (tiers differ in size) or the subcategory's;
- add-ons (spa, heating, automatic cover, demolition): the add-on's multiplier when asked for and not
  already in the class, its inverse when refused but included in the class;
- material (roofing, flooring) and variants (ADU type, storeys): ratio of the asked value's relative
  cost to the class's own value.
Timelines respond less than cost to scope (a bigger pool costs more materials, not twice the weeks):
they take the attribute factors to the power TIMELINE_ELASTICITY; regions move prices, not weeks.

Calibration multiplies P50 by its bias; when it carries a spread (log-sd s) the upper quantiles are
recomputed in log space, P80 = P50 exp(0.8416 s), P95 = P50 exp(1.6449 s); otherwise the class's own
P80/P50 and P95/P50 ratios are kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pricewise.estimation.priors import SUBCATEGORIES, Z80, Z95, Quantiles, SubcategoryPrior

TIMELINE_ELASTICITY = 0.5
MAX_STORIES = 3


@dataclass(frozen=True)
class ClassView:
    id: str
    name: str
    category: str
    subcategory: str
    cost: Quantiles
    timeline: Quantiles  # weeks
    breakdown: Mapping[str, float]
    regional_multipliers: Mapping[str, float]
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class Calibration:
    cost_bias: float = 1.0  # multiplier on P50
    cost_sigma: float | None = None  # log-sd; None = the class's own
    timeline_bias: float = 1.0
    timeline_sigma: float | None = None
    n: int = 0  # outcomes behind it


@dataclass(frozen=True)
class Factor:
    label: str
    multiplier: float
    source: str


@dataclass(frozen=True)
class Estimate:
    cost_p50: float
    cost_p80: float
    cost_p95: float
    timeline_weeks_p50: float
    timeline_weeks_p80: float
    timeline_weeks_p95: float
    cost_breakdown: dict[str, float]  # sums to cost_p50
    base_cost_p50: float  # before calibration (region and attributes applied)
    base_timeline_p50: float
    cost_sigma: float  # log-sd behind P80/P95
    timeline_sigma: float
    factors: list[Factor]
    assumptions: list[str]
    risks: list[str]


def _fmt(x: float) -> str:
    return f"{x:,.0f}"


def _money(x: float) -> str:
    return f"${x:,.0f}"


def breakdown_amounts(shares: Mapping[str, float], total: float) -> dict[str, float]:
    """Whole-dollar amounts in proportion to `shares`, summing exactly to round(total)."""
    if not shares:
        return {}
    s = sum(max(v, 0.0) for v in shares.values())
    target = round(total)
    # all-zero shares (a degenerate template) split evenly rather than dividing by zero
    share = {k: 1.0 / len(shares) for k in shares} if s <= 0 else {k: max(v, 0.0) / s for k, v in shares.items()}
    out = {k: float(round(target * v)) for k, v in share.items()}
    largest = max(share, key=lambda k: share[k])
    out[largest] += target - sum(out.values())
    return out


def _size_factor(cls: ClassView, prior: SubcategoryPrior | None, attrs: Mapping[str, Any],
                 factors: list[Factor], assumptions: list[str]) -> None:
    typical = cls.attributes.get("typical_size_sqft") or (prior.typical_size_sqft if prior else None)
    size = attrs.get("size_sqft")
    if not isinstance(typical, int | float) or typical <= 0 or prior is None:
        if isinstance(size, int | float):
            assumptions.append(f"Size {_fmt(size)} sq ft noted; this class has no size scaling")
        return
    if not isinstance(size, int | float) or isinstance(size, bool) or size <= 0:
        assumptions.append(f"No size given: typical {_fmt(typical)} sq ft assumed")
        return
    label = attrs.get("size_label")
    lo, hi = prior.size_bounds
    used = min(max(float(size), lo), hi)
    if isinstance(label, str) and label.strip():
        assumptions.append(f"Size taken as {_fmt(size)} sq ft from '{label.strip()}'")
    else:
        assumptions.append(f"Size taken as {_fmt(size)} sq ft")
    if used != size:
        assumptions.append(f"Size outside the modelled range {_fmt(lo)}-{_fmt(hi)} sq ft: priced as {_fmt(used)} sq ft")
    if used != typical:
        m = (used / float(typical)) ** prior.size_exponent
        factors.append(Factor(f"Size {_fmt(used)} sq ft vs typical {_fmt(typical)} sq ft", m,
                              f"size scaling (size / typical)^{prior.size_exponent:g}"))


def _addon_factors(cls: ClassView, prior: SubcategoryPrior, attrs: Mapping[str, Any],
                   factors: list[Factor], assumptions: list[str]) -> None:
    for key, (mult, label) in prior.addons.items():
        asked = attrs.get(key)
        included = cls.attributes.get(key) is True
        if asked is True and not included:
            factors.append(Factor(label, mult, f"add-on multiplier x{mult:g}"))
        elif asked is False and included:
            factors.append(Factor(f"Without: {label.lower()}", 1.0 / mult, f"add-on multiplier 1/{mult:g}"))
        elif asked is None and key != "demolition":
            assumptions.append(f"{label}: {'included (class default)' if included else 'not included'}")


def _ratio_factor(name: str, table: Mapping[str, float], asked: str, own: str | None,
                  factors: list[Factor], assumptions: list[str]) -> None:
    if asked not in table:
        assumptions.append(f"{name.capitalize()} '{asked}' is not modelled: class default kept")
        return
    if own is None or own not in table:
        own = next((k for k, v in table.items() if v == 1.0), None)
    if own is None or own == asked:
        return
    m = table[asked] / table[own]
    factors.append(Factor(f"{name.capitalize()}: {asked} (class priced for {own})", m,
                          f"relative cost {table[asked]:g} / {table[own]:g}"))


def _choice_factors(cls: ClassView, prior: SubcategoryPrior, attrs: Mapping[str, Any],
                    factors: list[Factor], assumptions: list[str]) -> None:
    material = attrs.get("material")
    if prior.materials and isinstance(material, str):
        own = cls.attributes.get("material")
        _ratio_factor("material", prior.materials, material.lower(), own if isinstance(own, str) else None,
                      factors, assumptions)
    for key, table in prior.variants.items():
        value = attrs.get(key)
        if value is None or isinstance(value, bool):
            continue
        if key == "stories" and isinstance(value, int | float):
            value = min(max(int(value), 1), MAX_STORIES)
        own_raw = cls.attributes.get(key)
        own = str(own_raw) if own_raw is not None else None
        _ratio_factor(key.replace("_", " "), table, str(value), own, factors, assumptions)


def _region_factor(cls: ClassView, region: str | None, factors: list[Factor], assumptions: list[str]) -> None:
    if region is None:
        assumptions.append("No region given: no regional adjustment applied")
        return
    m = cls.regional_multipliers.get(region)
    if m is None:
        assumptions.append(f"No regional multiplier for {region} in this class: 1.00 applied")
        return
    if m != 1.0:
        factors.append(Factor(f"Region: {region}", float(m), "class regional multiplier"))


def _text_list(value: Any) -> list[str] | None:
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return list(value)
    return None


def _quantiles(base: Quantiles, bias: float, sigma: float | None) -> tuple[Quantiles, float]:
    """Calibrated quantiles and the log-sd behind them."""
    p50 = base.p50 * bias
    if sigma is None:
        return base.scaled(bias), base.log_sigma
    return Quantiles(p50, p50 * math.exp(Z80 * sigma), p50 * math.exp(Z95 * sigma)), sigma


def estimate(cls: ClassView, region: str | None, attrs: Mapping[str, Any], cal: Calibration | None) -> Estimate:
    prior = SUBCATEGORIES.get(cls.subcategory)
    factors: list[Factor] = []
    assumptions: list[str] = []
    _region_factor(cls, region, factors, assumptions)
    n_region = len(factors)
    _size_factor(cls, prior, attrs, factors, assumptions)
    if prior is not None:
        _addon_factors(cls, prior, attrs, factors, assumptions)
        _choice_factors(cls, prior, attrs, factors, assumptions)
    quality = attrs.get("quality")
    tier = cls.attributes.get("tier")
    if isinstance(quality, str) and isinstance(tier, str) and quality != tier:
        assumptions.append(f"Asked for {quality} quality; priced as the {tier} tier ({cls.name})")

    cost_adj = math.prod(f.multiplier for f in factors)
    scope_adj = math.prod(f.multiplier for f in factors[n_region:]) ** TIMELINE_ELASTICITY
    base_cost = cls.cost.scaled(cost_adj)
    base_time = cls.timeline.scaled(scope_adj)
    cal = cal or Calibration()
    cost_q, cost_sigma = _quantiles(base_cost, cal.cost_bias, cal.cost_sigma)
    time_q, time_sigma = _quantiles(base_time, cal.timeline_bias, cal.timeline_sigma)
    if cal.n > 0 and (cal.cost_bias != 1.0 or cal.cost_sigma is not None):
        factors.append(Factor(f"Calibration on {cal.n} completed projects", cal.cost_bias,
                              "empirical-Bayes calibration of log(actual / P50)"))

    p50 = float(round(cost_q.p50))
    p80 = float(max(round(cost_q.p80), p50))
    p95 = float(max(round(cost_q.p95), p80))
    w50 = round(time_q.p50, 1)
    w80 = max(round(time_q.p80, 1), w50)
    w95 = max(round(time_q.p95, 1), w80)

    own_assumptions = _text_list(cls.attributes.get("assumptions"))
    own_risks = _text_list(cls.attributes.get("risks"))
    class_assumptions = own_assumptions if own_assumptions is not None else list(prior.assumptions if prior else ())
    risks = own_risks if own_risks is not None else list(prior.risks if prior else ())
    if attrs.get("demolition") is True:
        # the removal is priced now, so "no existing structure removal" no longer holds
        class_assumptions = [a for a in class_assumptions if not a.lower().startswith("no existing")]
    risks.append(f"About one project in five like this costs more than {_money(p80)}")
    return Estimate(
        cost_p50=p50, cost_p80=p80, cost_p95=p95,
        timeline_weeks_p50=w50, timeline_weeks_p80=w80, timeline_weeks_p95=w95,
        cost_breakdown=breakdown_amounts(cls.breakdown, p50),
        base_cost_p50=float(round(base_cost.p50)), base_timeline_p50=round(base_time.p50, 2),
        cost_sigma=round(cost_sigma, 4), timeline_sigma=round(time_sigma, 4),
        factors=factors, assumptions=[*assumptions, *class_assumptions], risks=risks,
    )
