"""Calibration on outcomes: shrinkage, planted biases and spreads, regions, tuning recommendations."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from pricewise.estimation.calibration import (
    MIN_OUTCOMES,
    TUNING_MIN,
    Outcome,
    apply_tuning,
    calibrate,
    tuning,
    variance_pct,
)
from pricewise.estimation.priors import Quantiles

PRIOR_SIGMA = math.sqrt(math.log(1 + 0.25**2))  # the priors' CV 0.25
TIME_SIGMA = math.log(1 + 0.8416 * 0.2) / 0.8416


def outcomes(rng: np.random.Generator, class_id: str, n: int, bias: float = 1.0, sigma: float = 0.13,
             region: str = "SoCal - Coastal", sub: str = "pool", weeks_bias: float = 1.0) -> list[Outcome]:
    out = []
    for _ in range(n):
        base = float(rng.uniform(20_000, 90_000))
        weeks = float(rng.uniform(4, 12))
        out.append(Outcome(class_id, sub, region, base, base * bias * math.exp(rng.normal(0, sigma)), PRIOR_SIGMA,
                           weeks, weeks * weeks_bias * math.exp(rng.normal(0, 0.1)), TIME_SIGMA))
    return out


def neutral_classes(rng: np.random.Generator, n: int = 40, k: int = 8) -> list[Outcome]:
    return [o for i in range(k) for o in outcomes(rng, f"n{i}", n, sub=f"s{i % 3}")]


def test_too_few_outcomes_leave_the_prior_untouched() -> None:
    rng = np.random.default_rng(1)
    assert MIN_OUTCOMES == 5
    obs = neutral_classes(rng) + outcomes(rng, "new", 4, bias=1.5)
    assert calibrate(obs).for_estimate("new", "pool", None) is None
    enough = calibrate(obs + outcomes(rng, "new", 1, bias=1.5)).for_estimate("new", "pool", None)
    assert enough is not None and enough.n == 5 and enough.cost_bias > 1.05
    assert calibrate([]).for_estimate("anything", "pool", "NorCal") is None


def test_few_outcomes_stay_near_the_prior_and_many_follow_the_data() -> None:
    rng = np.random.default_rng(2)
    base = neutral_classes(rng)
    few = calibrate(base + outcomes(rng, "hot", 6, bias=1.4)).for_estimate("hot", "pool", None)
    many = calibrate(base + outcomes(rng, "hot", 400, bias=1.4)).for_estimate("hot", "pool", None)
    assert few is not None and many is not None
    assert few.n == 6 and many.n == 400
    # shrunk: clearly below the data's 1.4 with 6 outcomes, close to it with 400
    assert 1.0 < few.cost_bias < 1.3
    assert many.cost_bias == pytest.approx(1.4, abs=0.04)
    assert few.cost_bias < many.cost_bias


def test_recovers_a_planted_25_percent_under_pricing() -> None:
    rng = np.random.default_rng(3)
    obs = neutral_classes(rng) + outcomes(rng, "kitchen", 150, bias=1.25, sub="kitchen_remodel")
    model = calibrate(obs)
    cal = model.for_estimate("kitchen", "kitchen_remodel", None)
    assert cal is not None and cal.cost_bias == pytest.approx(1.25, abs=0.05)
    neutral = model.for_estimate("n0", "s0", None)
    assert neutral is not None and neutral.cost_bias == pytest.approx(1.0, abs=0.04)


def test_recovers_a_planted_wider_spread_and_a_narrower_one() -> None:
    rng = np.random.default_rng(4)
    obs = neutral_classes(rng, n=200) + outcomes(rng, "wide", 300, sigma=0.35)
    model = calibrate(obs)
    wide = model.for_estimate("wide", "pool", None)
    narrow = model.for_estimate("n1", "s1", None)
    assert wide is not None and wide.cost_sigma == pytest.approx(0.35, abs=0.04)
    # truth 0.13: pulled well below the prior's 0.246
    assert narrow is not None and narrow.cost_sigma == pytest.approx(0.13, abs=0.03)


def test_spread_with_few_outcomes_stays_near_the_prior_sigma() -> None:
    rng = np.random.default_rng(5)
    cal = calibrate(neutral_classes(rng) + outcomes(rng, "t", MIN_OUTCOMES, sigma=0.02)).for_estimate("t", "pool", None)
    assert cal is not None and cal.cost_sigma is not None
    assert cal.cost_sigma > 0.5 * PRIOR_SIGMA


def test_a_dearer_region_is_learned_across_classes() -> None:
    rng = np.random.default_rng(6)
    obs = []
    for i in range(6):
        for region in ("SoCal - Coastal", "SoCal - Inland", "NorCal", "Central Coast"):
            obs += outcomes(rng, f"c{i}", 25, bias=1.2 if region == "NorCal" else 1.0, region=region, sub=f"s{i}")
    model = calibrate(obs)
    north = model.for_estimate("c0", "s0", "NorCal")
    coast = model.for_estimate("c0", "s0", "SoCal - Coastal")
    assert north is not None and coast is not None
    assert north.cost_bias == pytest.approx(1.2, abs=0.05)
    assert coast.cost_bias == pytest.approx(1.0, abs=0.05)
    # a class with no outcomes of its own still gets the region's correction
    fresh = model.for_estimate("never-seen", "s9", "NorCal")
    assert fresh is not None and fresh.cost_bias == pytest.approx(1.2, abs=0.06) and fresh.cost_sigma is None


def test_timeline_bias_is_calibrated_separately() -> None:
    rng = np.random.default_rng(7)
    obs = neutral_classes(rng) + outcomes(rng, "slow", 150, weeks_bias=1.3)
    cal = calibrate(obs).for_estimate("slow", "pool", None)
    assert cal is not None
    assert cal.timeline_bias == pytest.approx(1.3, abs=0.06)
    assert cal.cost_bias == pytest.approx(1.0, abs=0.05)


def test_invalid_outcomes_are_skipped() -> None:
    rng = np.random.default_rng(8)
    good = outcomes(rng, "a", 10)
    bad = [Outcome("a", "pool", None, 50_000, -10.0, PRIOR_SIGMA), Outcome("a", "pool", None, 0.0, 5.0, PRIOR_SIGMA),
           Outcome("a", "pool", None, 50_000, float("nan"), PRIOR_SIGMA)]
    assert calibrate(good + bad).cost.classes["a"].n == 10


def test_a_tenant_class_shrinks_towards_the_platform_estimate() -> None:
    rng = np.random.default_rng(9)
    platform = calibrate(neutral_classes(rng) + outcomes(rng, "k", 300, bias=1.3))
    tenant_obs = outcomes(rng, "k", 6, bias=1.0) + outcomes(rng, "other", 6)
    alone = calibrate(tenant_obs).for_estimate("k", "pool", None)
    pooled = calibrate(tenant_obs, platform=platform).for_estimate("k", "pool", None)
    assert alone is not None and pooled is not None
    assert pooled.cost_bias > alone.cost_bias + 0.05


def test_tuning_recommends_raising_an_under_priced_class() -> None:
    rng = np.random.default_rng(10)
    result = {t.class_id: t for t in tuning(outcomes(rng, "under", 80, bias=1.25) + outcomes(rng, "fine", 80))}
    under, fine = result["under"], result["fine"]
    assert under.needs_tuning and under.recommendation is not None
    m = re.search(r"Adjust P50 upward by (\d+)%", under.recommendation)
    assert m is not None and 18 <= int(m.group(1)) <= 32
    assert under.p80_coverage < 0.6 and under.p50_coverage < 0.2
    assert under.variance_pct > 15
    # the prior's CV 0.25 is too wide for this class's 0.13: P80 could come down, and fine's P50 is left alone
    assert fine.p50_factor == pytest.approx(1.0, abs=0.06)
    assert fine.p80_coverage > 0.9
    assert fine.recommendation is not None and "P50" not in fine.recommendation
    assert "Adjust P80 downward" in fine.recommendation


def test_tuning_recommends_a_wider_p80_for_a_wider_spread() -> None:
    rng = np.random.default_rng(11)
    t = tuning(outcomes(rng, "wide", 200, sigma=0.5))[0]
    assert t.p80_coverage < 0.7
    assert t.recommendation is not None and "Adjust P80 upward by" in t.recommendation
    assert t.p80_factor > 1.1
    # applying it brings P80 coverage on these outcomes close to 80%
    tuned = apply_tuning(Quantiles(100.0, 100.0 * math.exp(0.8416 * PRIOR_SIGMA), 150.0), t)
    assert tuned.p50 <= tuned.p80 <= tuned.p95
    assert tuned.p80 == pytest.approx(100.0 * math.exp(0.8416 * PRIOR_SIGMA) * t.p80_factor, abs=1)


def test_tuning_needs_enough_outcomes() -> None:
    rng = np.random.default_rng(12)
    t = tuning(outcomes(rng, "x", TUNING_MIN - 1, bias=1.6))[0]
    assert t.n == TUNING_MIN - 1 and not t.needs_tuning and t.recommendation is None
    assert t.p50_factor > 1.3  # the figures are still reported


def test_variance_pct_is_relative_to_the_actual() -> None:
    assert variance_pct(100.0, 80.0) == pytest.approx(20.0)
