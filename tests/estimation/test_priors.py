"""Synthetic priors: distributions, the platform set, seeded generation, class validation."""

from __future__ import annotations

import math

import pytest

from pricewise.estimation.priors import (
    REGIONS,
    SUBCATEGORIES,
    Quantiles,
    generate,
    lognormal_quantiles,
    normal_quantiles,
    platform_classes,
    validate_class,
)


def test_lognormal_quantiles_match_the_documented_ratios_for_cv_025() -> None:
    q = lognormal_quantiles(100_000, 0.25)
    assert q.p50 / 100_000 == pytest.approx(0.970, abs=0.001)
    assert q.p80 / q.p50 == pytest.approx(1.23, abs=0.005)
    assert q.p95 / q.p50 == pytest.approx(1.50, abs=0.005)
    # the log-sd read back from P80/P50 is the lognormal's sigma
    assert q.log_sigma == pytest.approx(math.sqrt(math.log(1 + 0.25**2)), rel=1e-4)


def test_normal_timeline_quantiles_use_a_20_percent_sd() -> None:
    q = normal_quantiles(10.0)
    assert (q.p50, q.p80, q.p95) == pytest.approx((10.0, 11.683, 13.290), abs=1e-3)


@pytest.mark.parametrize("bad", [(0.0, 0.25), (-5.0, 0.25), (100.0, -0.1)])
def test_quantile_inputs_out_of_range_are_refused(bad: tuple[float, float]) -> None:
    with pytest.raises(ValueError):
        lognormal_quantiles(*bad)


def test_platform_set_has_the_required_tiers_and_is_valid() -> None:
    classes = platform_classes()
    by_name = {c.name: c for c in classes}
    expected = {"Residential Pool - Basic": 35_000, "Residential Pool - Midrange": 55_000,
                "Residential Pool - Premium": 85_000, "Residential Pool - Luxury": 135_000,
                "ADU Construction - Basic": 120_000, "ADU Construction - Premium": 250_000,
                "Kitchen Remodel - Midrange": 30_000, "Bathroom Remodel - Basic": 8_000,
                "Landscaping - Premium": 25_000}
    for name, p50 in expected.items():
        assert by_name[name].cost.p50 == p50
    assert {c.subcategory for c in classes} == set(SUBCATEGORIES) == {
        "pool", "adu", "kitchen_remodel", "bathroom_remodel", "landscaping", "roofing", "flooring"}
    for c in classes:
        assert validate_class(c.cost, c.timeline, c.breakdown, c.regional_multipliers) == [], c.name
        assert c.is_synthetic and c.validation_source and c.currency == "USD"
        assert c.attributes["tier"] in {"basic", "midrange", "premium", "luxury"}
        assert set(c.regions) == set(REGIONS) == set(c.regional_multipliers)
        assert c.cost.p50 < c.cost.p80 < c.cost.p95 and c.timeline.p50 < c.timeline.p95


def test_regional_multipliers_follow_the_california_pattern() -> None:
    pool = SUBCATEGORIES["pool"].regional_multipliers
    assert pool == {"SoCal - Coastal": 1.00, "SoCal - Inland": 0.85, "NorCal": 0.90, "Central Coast": 0.95}


def test_keywords_cover_the_words_people_use() -> None:
    words = {sub: set(p.keywords) for sub, p in SUBCATEGORIES.items()}
    assert {"swimming pool", "plunge pool"} <= words["pool"]
    assert {"granny flat", "backyard cottage", "in-law unit"} <= words["adu"]
    assert {"reroof", "shingles"} <= words["roofing"]
    assert {"hardscape", "sod", "pavers"} <= words["landscaping"]
    assert {"vanity", "shower"} <= words["bathroom_remodel"]
    assert {"cabinets", "countertops"} <= words["kitchen_remodel"]
    assert {"hardwood", "lvp"} <= words["flooring"]


def test_generate_is_deterministic_for_a_seed_and_varies_across_seeds() -> None:
    args = ("construction", ["pool", "adu", "kitchen_remodel"], ["SoCal - Coastal", "SoCal - Inland"], 3)
    a, b, c = generate(*args, seed=11), generate(*args, seed=11), generate(*args, seed=12)
    assert a == b
    assert [x.cost for x in a] != [x.cost for x in c]
    assert len(a) == 9
    for x in a:
        assert x.regions == ["SoCal - Coastal", "SoCal - Inland"]
        assert set(x.regional_multipliers) == {"SoCal - Coastal", "SoCal - Inland"}
        assert validate_class(x.cost, x.timeline, x.breakdown, x.regional_multipliers) == []


def test_generate_spreads_classes_from_the_cheapest_to_the_dearest_tier() -> None:
    pools = generate("construction", ["pool"], [], 4, seed=3)
    assert [p.attributes["tier"] for p in pools] == ["basic", "midrange", "premium", "luxury"]
    # seeded jitter keeps each class near its tier (within about +/-30%)
    for p, target in zip(pools, (35_000, 55_000, 85_000, 135_000), strict=True):
        assert 0.7 < p.cost.p50 / target < 1.3
    assert len({p.name for p in generate("construction", ["adu"], [], 5, seed=3)}) == 5


def test_a_subcategory_draws_the_same_classes_whatever_else_is_requested() -> None:
    alone = generate("construction", ["adu"], [], 2, seed=5)
    together = generate("construction", ["pool", "adu"], [], 2, seed=5)
    assert [c for c in together if c.subcategory == "adu"] == alone


@pytest.mark.parametrize(("args", "word"), [
    (("construction", ["pool", "spaceship"], [], 1), "spaceship"),
    (("construction", ["pool"], ["Atlantis"], 1), "Atlantis"),
    (("software", ["pool"], [], 1), "software"),
    (("construction", ["pool"], [], 0), "count_per_subcategory"),
])
def test_generate_names_what_it_does_not_know(args: tuple[str, list[str], list[str], int], word: str) -> None:
    category, subcategories, regions, count = args
    with pytest.raises(ValueError, match=word):
        generate(category, subcategories, regions, count, seed=1)


GOOD_COST = Quantiles(50_000, 60_000, 75_000)
GOOD_TIME = Quantiles(8, 10, 12)
GOOD_SHARES = {"materials": 0.5, "labor": 0.5}
GOOD_MULT = {"SoCal - Coastal": 1.0}


def test_a_sound_class_passes_validation() -> None:
    assert validate_class(GOOD_COST, GOOD_TIME, GOOD_SHARES, GOOD_MULT) == []
    assert validate_class(GOOD_COST, GOOD_TIME, {"a": 0.5, "b": 0.505}, GOOD_MULT) == []


@pytest.mark.parametrize(("cost", "time", "shares", "mult", "field"), [
    (Quantiles(60_000, 50_000, 75_000), GOOD_TIME, GOOD_SHARES, GOOD_MULT, "cost_distribution.P80"),
    (Quantiles(50_000, 60_000, 55_000), GOOD_TIME, GOOD_SHARES, GOOD_MULT, "cost_distribution.P95"),
    (Quantiles(0, 60_000, 75_000), GOOD_TIME, GOOD_SHARES, GOOD_MULT, "cost_distribution.P50"),
    (GOOD_COST, Quantiles(8, 7, 12), GOOD_SHARES, GOOD_MULT, "timeline_distribution.P80"),
    (GOOD_COST, GOOD_TIME, {"materials": 0.5, "labor": 0.4}, GOOD_MULT, "cost_breakdown_template"),
    (GOOD_COST, GOOD_TIME, {"materials": 1.2, "labor": -0.2}, GOOD_MULT, "cost_breakdown_template.labor"),
    (GOOD_COST, GOOD_TIME, {}, GOOD_MULT, "cost_breakdown_template"),
    (GOOD_COST, GOOD_TIME, GOOD_SHARES, {"NorCal": 0.0}, "regional_multipliers.NorCal"),
    (GOOD_COST, GOOD_TIME, GOOD_SHARES, {"NorCal": float("nan")}, "regional_multipliers.NorCal"),
])
def test_validation_names_the_field_that_is_wrong(cost: Quantiles, time: Quantiles, shares: dict[str, float],
                                                  mult: dict[str, float], field: str) -> None:
    errors = validate_class(cost, time, shares, mult)
    assert field in [f for f, _ in errors]
    assert all(reason for _, reason in errors)
