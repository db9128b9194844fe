"""Synthetic priors: reference classes from documented distributions. Pure: no web, no database.

Cost is lognormal, parameterised by its mean and coefficient of variation:
    sigma = sqrt(ln(1 + cv^2)),  median = mean / sqrt(1 + cv^2),
    P80 = median * exp(0.8416 sigma),  P95 = median * exp(1.6449 sigma)
(cv 0.25: P50 = 0.970 x mean, P80 = 1.23 x P50, P95 = 1.50 x P50). Timeline is normal with sd a
share of the mean (20%): P80 = mean (1 + 0.8416 x 0.2), P95 = mean (1 + 1.6449 x 0.2).

The platform set (`platform_classes`) is every tier of every subcategory in priors_data.py,
without jitter. `generate` draws variants around the same tiers, deterministic for a seed, so an
admin can create a starter set for a tenant and get the same one again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from pricewise.estimation.priors_data import (
    BASE_MULTIPLIERS,
    DEFAULT_CV,
    REGIONS,
    SOURCE,
    SUBCATEGORIES,
    SubcategoryPrior,
    TierPrior,
)

__all__ = [
    "BASE_MULTIPLIERS", "CATEGORY", "DEFAULT_CV", "REGIONS", "SOURCE", "SUBCATEGORIES", "Z80", "Z95", "ClassSpec",
    "Quantiles", "SubcategoryPrior", "TierPrior", "generate", "lognormal_quantiles", "normal_quantiles",
    "platform_classes", "validate_class",
]

CATEGORY = "construction"
Z80 = 0.8416  # standard normal quantiles
Z95 = 1.6449
TIMELINE_SD_FRAC = 0.20
SHARE_TOLERANCE = 0.01
# generate(): spread of the seeded variation around a tier (log-sd unless said otherwise)
JITTER_COST = 0.10
JITTER_TIMELINE = 0.10
JITTER_SHARE = 0.10
JITTER_REGION = 0.02
CV_BOUNDS = (0.15, 0.40)


@dataclass(frozen=True)
class Quantiles:
    p50: float
    p80: float
    p95: float

    @property
    def log_sigma(self) -> float:
        """Log-sd implied by P80/P50 (lognormal reading); 0 when degenerate."""
        if self.p50 <= 0 or self.p80 <= self.p50:
            return 0.0
        return math.log(self.p80 / self.p50) / Z80

    def scaled(self, factor: float) -> Quantiles:
        return Quantiles(self.p50 * factor, self.p80 * factor, self.p95 * factor)


def lognormal_quantiles(mean: float, cv: float) -> Quantiles:
    if mean <= 0 or cv < 0:
        raise ValueError("mean must be > 0 and cv >= 0")
    sigma = math.sqrt(math.log1p(cv * cv))
    median = mean / math.sqrt(1.0 + cv * cv)
    return Quantiles(median, median * math.exp(Z80 * sigma), median * math.exp(Z95 * sigma))


def normal_quantiles(mean: float, sd_frac: float = TIMELINE_SD_FRAC) -> Quantiles:
    if mean <= 0 or sd_frac < 0:
        raise ValueError("mean must be > 0 and sd_frac >= 0")
    return Quantiles(mean, mean * (1.0 + Z80 * sd_frac), mean * (1.0 + Z95 * sd_frac))


@dataclass(frozen=True)
class ClassSpec:
    category: str
    subcategory: str
    name: str
    description: str
    keywords: list[str]
    regions: list[str]
    attributes: dict[str, Any]
    cost: Quantiles
    timeline: Quantiles  # weeks
    breakdown: dict[str, float]
    regional_multipliers: dict[str, float]
    is_synthetic: bool = True
    validation_source: str = SOURCE
    currency: str = "USD"
    extra: dict[str, Any] = field(default_factory=dict)  # generation parameters, for the record


def _round_cost(q: Quantiles) -> Quantiles:
    return Quantiles(float(round(q.p50)), float(round(q.p80)), float(round(q.p95)))


def _round_weeks(q: Quantiles) -> Quantiles:
    return Quantiles(round(q.p50, 1), round(q.p80, 1), round(q.p95, 1))


def _dedupe(words: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for w in words:
        seen.setdefault(w.lower(), None)
    return list(seen)


def _normalise_shares(raw: Mapping[str, float], digits: int = 3) -> dict[str, float]:
    """Shares rounded to `digits`, the rounding remainder on the largest so they sum to 1."""
    total = sum(raw.values())
    out = {k: round(v / total, digits) for k, v in raw.items()}
    largest = max(out, key=lambda k: out[k])
    out[largest] = round(out[largest] + 1.0 - sum(out.values()), digits)
    return out


def _spec(prior: SubcategoryPrior, tier: TierPrior, name: str, regions: Sequence[str], *, mean_cost: float,
          cv: float, timeline_weeks: float, breakdown: dict[str, float], multipliers: dict[str, float],
          extra: dict[str, Any] | None = None) -> ClassSpec:
    return ClassSpec(
        category=prior.category, subcategory=prior.subcategory, name=name,
        description=f"{tier.description} {prior.description}",
        keywords=_dedupe([*prior.keywords, *tier.keywords]), regions=list(regions),
        attributes=dict(tier.attributes),
        cost=_round_cost(lognormal_quantiles(mean_cost, cv)),
        timeline=_round_weeks(normal_quantiles(timeline_weeks)),
        breakdown=breakdown, regional_multipliers={r: multipliers[r] for r in regions},
        validation_source=prior.validation_source, extra=extra or {},
    )


@lru_cache(maxsize=1)
def _platform() -> tuple[ClassSpec, ...]:
    out = []
    for prior in SUBCATEGORIES.values():
        for tier in prior.tiers:
            out.append(_spec(prior, tier, f"{prior.label} - {tier.suffix}", REGIONS, mean_cost=tier.mean_cost,
                             cv=tier.cv, timeline_weeks=tier.timeline_weeks, breakdown=dict(prior.breakdown),
                             multipliers=prior.regional_multipliers))
    return tuple(out)


def platform_classes() -> list[ClassSpec]:
    """The platform set loaded on first start: every tier of every subcategory, all four regions."""
    return list(_platform())


def tier_indices(n_tiers: int, count: int) -> list[int]:
    """Tiers for `count` classes, spread evenly from the cheapest to the dearest (repeats when count > tiers)."""
    if count == 1:
        return [n_tiers // 2]
    return [round(k * (n_tiers - 1) / (count - 1)) for k in range(count)]


def generate(category: str, subcategories: Sequence[str], regions: Sequence[str], count_per_subcategory: int,
             seed: int) -> list[ClassSpec]:
    """`count_per_subcategory` synthetic classes per subcategory, restricted to `regions` (empty: all four).

    Deterministic for a seed; each subcategory draws from its own stream (seed, subcategory index), so
    adding a subcategory to the request does not change the others' classes.
    """
    if category != CATEGORY:
        raise ValueError(f"unknown category: {category!r} (known: {CATEGORY!r})")
    if count_per_subcategory < 1:
        raise ValueError("count_per_subcategory must be at least 1")
    for sub in subcategories:
        if sub not in SUBCATEGORIES:
            raise ValueError(f"unknown subcategory: {sub!r} (known: {', '.join(SUBCATEGORIES)})")
    for region in regions:
        if region not in REGIONS:
            raise ValueError(f"unknown region: {region!r} (known: {', '.join(REGIONS)})")
    chosen_regions = list(dict.fromkeys(regions)) or list(REGIONS)
    order = list(SUBCATEGORIES)
    out: list[ClassSpec] = []
    for sub in dict.fromkeys(subcategories):
        prior = SUBCATEGORIES[sub]
        rng = np.random.default_rng([seed, order.index(sub)])
        seen: dict[str, int] = {}
        for idx in tier_indices(len(prior.tiers), count_per_subcategory):
            tier = prior.tiers[idx]
            base = f"{prior.label} - {tier.suffix}"
            seen[base] = seen.get(base, 0) + 1
            name = base if seen[base] == 1 else f"{base} (variant {seen[base]})"
            cost_j = float(np.exp(rng.normal(0.0, JITTER_COST)))
            cv = float(np.clip(tier.cv * np.exp(rng.normal(0.0, 0.1)), *CV_BOUNDS))
            weeks_j = float(np.exp(rng.normal(0.0, JITTER_TIMELINE)))
            keys = list(prior.breakdown)
            shares = np.array([prior.breakdown[k] for k in keys])
            shares = shares * np.exp(rng.normal(0.0, JITTER_SHARE, size=len(keys)))
            region_j = np.exp(rng.normal(0.0, JITTER_REGION, size=len(REGIONS)))
            multipliers = {r: round(prior.regional_multipliers[r] * float(region_j[i]), 2)
                           for i, r in enumerate(REGIONS)}
            out.append(_spec(
                prior, tier, name, chosen_regions, mean_cost=tier.mean_cost * cost_j, cv=cv,
                timeline_weeks=tier.timeline_weeks * weeks_j,
                breakdown=_normalise_shares(dict(zip(keys, (float(s) for s in shares), strict=True))),
                multipliers=multipliers,
                extra={"seed": seed, "tier": tier.tier, "cost_jitter": round(cost_j, 4), "cv": round(cv, 4)}))
    return out


def _finite(x: float) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _check_quantiles(q: Quantiles, name: str) -> list[tuple[str, str]]:
    errs: list[tuple[str, str]] = []
    for label, v in (("P50", q.p50), ("P80", q.p80), ("P95", q.p95)):
        if not _finite(v) or v <= 0:
            errs.append((f"{name}.{label}", f"{label} must be a positive number, got {v!r}"))
    if errs:
        return errs
    if q.p80 < q.p50:
        errs.append((f"{name}.P80", f"P80 ({q.p80:g}) must be >= P50 ({q.p50:g})"))
    if q.p95 < q.p80:
        errs.append((f"{name}.P95", f"P95 ({q.p95:g}) must be >= P80 ({q.p80:g})"))
    return errs


def validate_class(cost: Quantiles, timeline: Quantiles, breakdown: Mapping[str, float],
                   regional_multipliers: Mapping[str, float]) -> list[tuple[str, str]]:
    """(field, reason) for every rule broken; [] when the class is sound.

    Rules: 0 < P50 <= P80 <= P95 for cost and timeline; breakdown shares each >= 0 and summing to
    1 +/- 0.01; every regional multiplier > 0.
    """
    errs = _check_quantiles(cost, "cost_distribution") + _check_quantiles(timeline, "timeline_distribution")
    if not breakdown:
        errs.append(("cost_breakdown_template", "at least one share is required"))
    else:
        bad = False
        for key, share in breakdown.items():
            if not _finite(share) or share < 0:
                errs.append((f"cost_breakdown_template.{key}", f"share must be a number >= 0, got {share!r}"))
                bad = True
        total = sum(breakdown.values()) if not bad else float("nan")
        if not bad and abs(total - 1.0) > SHARE_TOLERANCE:
            errs.append(("cost_breakdown_template", f"shares must sum to 1 +/- {SHARE_TOLERANCE}, got {total:.4f}"))
    for region, m in regional_multipliers.items():
        if not _finite(m) or m <= 0:
            errs.append((f"regional_multipliers.{region}", f"multiplier must be > 0, got {m!r}"))
    return errs
