"""Estimates from a class: regional, size, add-on and material adjustments, calibration, breakdown."""

from __future__ import annotations

import math
from typing import Any

import pytest

from pricewise.estimation.compute import Calibration, ClassView, breakdown_amounts, estimate
from pricewise.estimation.priors import Quantiles, platform_classes


def view(name: str, **attrs: Any) -> ClassView:
    spec = next(c for c in platform_classes() if c.name == name)
    return ClassView("c1", spec.name, spec.category, spec.subcategory, spec.cost, spec.timeline, spec.breakdown,
                     spec.regional_multipliers, {**spec.attributes, **attrs})


POOL = "Residential Pool - Midrange"  # P50 55,000 at 450 sq ft, no spa, no heating


def test_plain_estimate_is_the_class_quantiles() -> None:
    e = estimate(view(POOL), "SoCal - Coastal", {}, None)
    assert (e.cost_p50, e.cost_p80, e.cost_p95) == (55_000, 67_664, 82_462)
    assert (e.timeline_weeks_p50, e.timeline_weeks_p80, e.timeline_weeks_p95) == (9.0, 10.5, 12.0)
    assert e.base_cost_p50 == 55_000
    assert "No size given: typical 450 sq ft assumed" in e.assumptions
    assert "Rock or hardpan soil could add $5-15k" in e.risks


def test_region_multiplier_scales_cost_not_weeks() -> None:
    e = estimate(view(POOL), "SoCal - Inland", {}, None)
    assert e.cost_p50 == round(55_000 * 0.85)
    assert e.timeline_weeks_p50 == 9.0
    assert any(f.label == "Region: SoCal - Inland" and f.multiplier == 0.85 for f in e.factors)


def test_region_missing_from_the_class_is_said_and_costs_nothing() -> None:
    e = estimate(view(POOL), "Oregon", {}, None)
    assert e.cost_p50 == 55_000
    assert any("No regional multiplier for Oregon" in a for a in e.assumptions)
    assert any("No region given" in a for a in estimate(view(POOL), None, {}, None).assumptions)


def test_size_scales_cost_by_the_documented_exponent() -> None:
    e = estimate(view(POOL), "SoCal - Coastal", {"size_sqft": 800.0, "size_label": "20x40 ft"}, None)
    assert e.cost_p50 == round(55_000 * (800 / 450) ** 0.6)
    # weeks respond with half the elasticity
    assert e.timeline_weeks_p50 == round(9.0 * (800 / 450) ** 0.3, 1)
    assert "Size taken as 800 sq ft from '20x40 ft'" in e.assumptions
    assert "No size given: typical 450 sq ft assumed" not in e.assumptions


def test_size_outside_the_bounds_is_clamped_and_said() -> None:
    e = estimate(view(POOL), "SoCal - Coastal", {"size_sqft": 50_000.0}, None)
    assert e.cost_p50 == round(55_000 * (1500 / 450) ** 0.6)
    assert any("outside the modelled range" in a for a in e.assumptions)


def test_pool_add_ons_multiply_cost() -> None:
    attrs = {"includes_spa": True, "heating": True, "automatic_cover": True}
    e = estimate(view(POOL), "SoCal - Coastal", attrs, None)
    assert e.cost_p50 == round(55_000 * 1.25 * 1.07 * 1.12)
    assert {f.label for f in e.factors} >= {"Attached spa", "Automatic safety cover"}


def test_refusing_an_add_on_the_class_includes_takes_it_out() -> None:
    luxury = view("Residential Pool - Luxury")  # includes spa and heating
    e = estimate(luxury, "SoCal - Coastal", {"includes_spa": False}, None)
    assert e.cost_p50 == round(135_000 / 1.25)
    # asking again for what the class includes adds nothing
    assert estimate(luxury, "SoCal - Coastal", {"includes_spa": True}, None).cost_p50 == 135_000


def test_material_is_priced_relative_to_the_class_material() -> None:
    roof = view("Roof Replacement - Midrange")  # asphalt, P50 20,000
    assert estimate(roof, "SoCal - Coastal", {"material": "tile"}, None).cost_p50 == round(20_000 * 1.75)
    assert estimate(roof, "SoCal - Coastal", {"material": "asphalt"}, None).cost_p50 == 20_000
    e = estimate(roof, "SoCal - Coastal", {"material": "straw"}, None)
    assert e.cost_p50 == 20_000 and any("'straw' is not modelled" in a for a in e.assumptions)


def test_adu_type_and_storeys_are_adjusted() -> None:
    adu = view("ADU Construction - Midrange")  # detached, single storey, P50 180,000
    assert estimate(adu, "SoCal - Coastal", {"adu_type": "garage_conversion"}, None).cost_p50 == round(180_000 * 0.55)
    assert estimate(adu, "SoCal - Coastal", {"stories": 2}, None).cost_p50 == round(180_000 * 1.08)


def test_demolition_is_priced_and_replaces_the_no_removal_assumption() -> None:
    e = estimate(view(POOL), "SoCal - Coastal", {"demolition": True}, None)
    assert e.cost_p50 == round(55_000 * 1.15)
    assert "No existing structure removal" not in e.assumptions
    assert "No existing structure removal" in estimate(view(POOL), "SoCal - Coastal", {}, None).assumptions


def test_breakdown_sums_exactly_to_p50() -> None:
    for attrs in ({}, {"size_sqft": 333.0, "includes_spa": True}, {"heating": True, "size_sqft": 777.0}):
        e = estimate(view(POOL), "NorCal", attrs, None)
        assert sum(e.cost_breakdown.values()) == e.cost_p50
        assert all(v == int(v) for v in e.cost_breakdown.values())
        assert e.cost_breakdown["materials"] == pytest.approx(0.40 * e.cost_p50, abs=1)


def test_breakdown_amounts_put_the_remainder_in_the_largest_share() -> None:
    out = breakdown_amounts({"a": 1 / 3, "b": 1 / 3, "c": 0.334}, 1000)
    assert sum(out.values()) == 1000 and out["c"] == 334


def test_calibration_bias_moves_p50_and_keeps_class_ratios_without_a_sigma() -> None:
    e = estimate(view(POOL), "SoCal - Coastal", {}, Calibration(cost_bias=1.2, n=12))
    assert e.cost_p50 == 66_000
    assert e.cost_p80 == round(67_664 * 1.2)
    assert e.base_cost_p50 == 55_000
    assert any(f.label == "Calibration on 12 completed projects" for f in e.factors)


def test_calibration_sigma_recomputes_quantiles_in_log_space() -> None:
    cal = Calibration(cost_bias=1.0, cost_sigma=0.10, timeline_bias=1.1, timeline_sigma=0.05, n=30)
    e = estimate(view(POOL), "SoCal - Coastal", {}, cal)
    assert e.cost_p80 == round(55_000 * math.exp(0.8416 * 0.10))
    assert e.cost_p95 == round(55_000 * math.exp(1.6449 * 0.10))
    assert e.cost_sigma == 0.10
    assert e.timeline_weeks_p50 == 9.9
    assert e.timeline_weeks_p80 == round(9.9 * math.exp(0.8416 * 0.05), 1)


def test_custom_class_without_priors_still_estimates() -> None:
    cls = ClassView("x", "Solar Install", "construction", "solar", Quantiles(20_000, 24_000, 30_000),
                    Quantiles(2, 3, 4), {"panels": 0.6, "labor": 0.4}, {"NorCal": 1.1},
                    {"assumptions": ["South-facing roof"], "risks": ["Panel upgrade"]})
    e = estimate(cls, "NorCal", {"size_sqft": 400.0}, None)
    assert (e.cost_p50, e.cost_p80) == (22_000, 26_400)
    assert sum(e.cost_breakdown.values()) == 22_000
    assert "South-facing roof" in e.assumptions and "Panel upgrade" in e.risks
    assert any("no size scaling" in a for a in e.assumptions)


def test_quality_mismatch_is_said() -> None:
    e = estimate(view(POOL), None, {"quality": "luxury"}, None)
    assert any("Asked for luxury quality" in a for a in e.assumptions)
