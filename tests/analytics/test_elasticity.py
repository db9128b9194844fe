"""Elasticity from a market with a known response, and the price it recommends."""

from __future__ import annotations

import numpy as np
import pytest

from pricewise.analytics.elasticity import PRIOR_MEAN, demand_ratio, estimate, optimal_price


def market(elasticity: float, prices: np.ndarray, seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(prices.size)
    season = 0.08 * np.sin(2 * np.pi * t / 12)
    trend = 0.01 * t
    return np.exp(6.0 + elasticity * np.log(prices) + trend + season + rng.normal(0, 0.03, prices.size))


def test_known_elasticity_recovered_with_two_price_changes():
    prices = np.array([40.0] * 12 + [46.0] * 12 + [36.0] * 12)
    q = market(-1.5, prices)
    e = estimate(q, prices)
    assert e.source in ("regression", "regression+prior") and e.price_changes == 2
    assert abs(e.value - (-1.5)) <= 0.3
    # with unit cost 20, p* = 20 * 1.5 / 0.5 = 60: above the current 36, so the price moves up
    choice = optimal_price(36.0, e.value, unit_cost=20.0)
    assert choice.price > 36.0 and choice.bound == "upper"  # 60 is beyond +30%


def test_no_price_variation_uses_the_prior_and_says_so():
    prices = np.full(36, 40.0)
    e = estimate(market(-1.5, prices), prices)
    assert e.source == "prior" and e.value == PRIOR_MEAN and e.price_changes == 0


def test_optimal_price_rules():
    inside = optimal_price(100.0, -3.0, unit_cost=60.0)  # p* = 60 * 3 / 2 = 90
    assert inside.price == pytest.approx(90.0) and inside.bound is None
    assert optimal_price(100.0, -0.5).price == pytest.approx(130.0)
    assert optimal_price(100.0, -2.0).price == pytest.approx(70.0)
    assert demand_ratio(110.0, 100.0, -1.5) == pytest.approx(1.1 ** -1.5)
    with pytest.raises(ValueError):
        optimal_price(0.0, -1.5)


def test_a_price_step_on_a_year_boundary_is_still_identified():
    # 24 months, one change at month 12: the step equals a combination of trend and month effects,
    # so the season is dropped rather than letting the fit put the price effect anywhere
    prices = np.array([40.0] * 12 + [36.0] * 12)
    e = estimate(market(-1.5, prices), prices)
    assert e.source in ("regression", "regression+prior")
    assert abs(e.value - (-1.5)) <= 0.3
