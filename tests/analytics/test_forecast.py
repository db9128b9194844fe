"""Forecast model choice, reuse of the chosen form, batches, and the documented fallbacks."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from statsforecast.models import ARIMA, AutoETS

from pricewise.analytics.forecast import PARALLEL_FROM, forecast, forecast_many


def seasonal(n: int = 36, seed: int = 7, level: float = 200.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return level + 3 * t + 25 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, n)


def test_seasonal_series_beats_seasonal_naive_in_backtest():
    y = seasonal()
    f = forecast(y, h=12)
    assert f.season_length == 12 and f.fallback is None and not f.reused
    assert set(f.candidates) == {"AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive"}
    assert f.mase == min(f.candidates.values()) < f.candidates["SeasonalNaive"]
    assert len(f.mean) == 12
    assert all(lo95 <= lo80 <= m <= hi80 <= hi95 for lo95, lo80, m, hi80, hi95
               in zip(f.lo95, f.lo80, f.mean, f.hi80, f.hi95, strict=True))
    assert f.mean[0] > y[-12]  # the trend carries on


def test_spec_describes_the_chosen_form_and_survives_json():
    f = forecast(seasonal(), h=12)
    spec = json.loads(json.dumps(f.spec))
    assert spec["model"] == f.model and spec["season"] == 12 and spec["n"] == 36
    assert spec["mase"] == pytest.approx(f.mase)
    form = {"AutoETS": {"ets"}, "AutoARIMA": {"order", "seasonal_order", "constant"}, "AutoTheta": {"theta"},
            "SeasonalNaive": set()}[f.model]
    assert form <= set(spec)


def test_spec_reuse_refits_that_form_without_a_search():
    y = seasonal(40)
    first = forecast(y[:36], h=12)
    again = forecast(y[:38], h=12, spec=first.spec)  # two more months: less than a season
    assert again.reused and again.model == first.model and again.candidates == {}
    assert again.spec == first.spec  # `n` stays the count when the form was chosen
    assert again.mase == pytest.approx(first.mase)


def test_an_arima_spec_is_honoured_exactly():
    y = seasonal(38, seed=3)
    spec = {"model": "AutoARIMA", "order": [0, 1, 1], "seasonal_order": [0, 1, 1], "constant": False,
            "season": 12, "n": 36, "mase": 0.5}
    f = forecast(y, h=6, spec=spec)
    assert f.reused and f.model == "AutoARIMA" and f.spec["order"] == [0, 1, 1]
    assert f.spec["seasonal_order"] == [0, 1, 1] and f.mase == 0.5
    direct = ARIMA(order=(0, 1, 1), seasonal_order=(0, 1, 1), season_length=12).forecast(y=y, h=6)["mean"]
    assert np.allclose(f.mean, direct, rtol=1e-6)


def test_an_ets_spec_is_honoured_exactly():
    y = seasonal(37, seed=4)
    f = forecast(y, h=4, spec={"model": "AutoETS", "ets": "AAdN", "season": 12, "n": 30})
    assert f.reused and f.model == "AutoETS" and f.spec["ets"] == "AAdN"
    direct = AutoETS(season_length=12, model="AAN", damped=True).forecast(y=y, h=4)["mean"]
    assert np.allclose(f.mean, direct, rtol=1e-6)


@pytest.mark.parametrize("change", [
    {"n": 24},  # the series has grown by a season since: search again
    {"n": 40},  # the series is shorter than when the form was chosen
    {"season": 1},  # another season length
    {"model": "Prophet"},
    {"order": "abc"},
    {"order": [0, 1, 1, 5]},
])
def test_a_stale_or_broken_spec_means_a_new_search(change):
    y = seasonal(36, seed=5)
    spec = {"model": "AutoARIMA", "order": [0, 1, 1], "seasonal_order": [0, 1, 1], "constant": False,
            "season": 12, "n": 36} | change
    f = forecast(y, h=12, spec=spec)
    assert not f.reused and f.mase is not None and len(f.candidates) >= 3
    assert f.spec["n"] == 36


def test_forecast_many_equals_forecast_per_series():
    rng = np.random.default_rng(11)
    series: list[list[float]] = [list(seasonal(36 + i % 5, seed=i, level=100 + 40 * i)) for i in range(PARALLEL_FROM)]
    series += [[5.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0], list(rng.normal(50, 5, 14)),
               [3.0, math.nan, 5.0, 6.0, 7.0, 9.0]]
    many = forecast_many(series, h=6, n_jobs=2)
    assert len(many) == len(series)
    for values, got in zip(series, many, strict=True):
        one = forecast(values, h=6)
        assert (got.model, got.fallback, got.spec) == (one.model, one.fallback, one.spec)
        assert got.candidates == one.candidates
        assert np.allclose(got.mean, one.mean) and np.allclose(got.hi95, one.hi95)


def test_forecast_many_passes_each_series_its_spec():
    series = [list(seasonal(36, seed=i)) for i in range(3)]
    first = forecast_many(series, h=12)
    grown = [s + s[-12:-10] for s in series]
    again = forecast_many(grown, h=12, specs=[first[0].spec, None, first[2].spec])
    assert [f.reused for f in again] == [True, False, True]
    assert again[0].model == first[0].model and again[2].spec == first[2].spec
    with pytest.raises(ValueError, match="one entry"):
        forecast_many(series, specs=[None])
    with pytest.raises(TypeError, match="specs"):
        forecast_many(series, spec=first[0].spec)


@pytest.mark.parametrize(("values", "model", "says"), [
    ([5.0], "Flat", "single observation"),
    ([0.0, 0.0, 0.0, 0.0], "Flat", "zero"),
    ([1.0, 2.0, 3.0], "Naive", "fewer than 6"),
])
def test_fallbacks_say_so(values, model, says):
    f = forecast(values, h=3)
    assert f.model == model and says in (f.fallback or "")
    assert len(f.mean) == 3 and min(f.lo95) >= 0
    assert f.spec == {} and f.mase is None  # nothing searched, nothing to reuse


def test_short_series_uses_non_seasonal_models():
    f = forecast([10, 12, 11, 13, 14, 13, 15, 16, 15, 17], h=2)
    assert f.season_length == 1 and "two seasons" in (f.fallback or "")
    assert f.spec["season"] == 1 and "SeasonalNaive" not in f.candidates and "Naive" in f.candidates
    two_years = forecast(seasonal(24), h=12)  # two seasons, but nothing left to backtest them on
    assert two_years.season_length == 1 and "two seasons" in (two_years.fallback or "")
    assert two_years.mase is not None and len(two_years.candidates) == 4


def test_gaps_are_interpolated_and_said():
    y = list(seasonal(30))
    y[10] = y[11] = math.nan
    f = forecast(y, h=3)
    assert "2 missing value(s) filled" in (f.fallback or "") and f.mase is not None
    filled = forecast([1.0, math.nan, 3.0, 4.0, 5.0, 6.0, 7.0], h=1)
    assert filled.mean[0] == pytest.approx(8.0, abs=0.5)  # the gap did not bend the trend


def test_leading_zeros_are_left_out():
    f = forecast([0.0] * 12 + [100.0, 110.0, 120.0, 130.0, 140.0, 150.0, 160.0, 170.0], h=2)
    assert "12 leading zero(s) left out" in (f.fallback or "") and f.spec["n"] == 8
    assert f.mean[0] > 150


def test_bad_series_refused():
    with pytest.raises(ValueError, match="at least one"):
        forecast([])
    with pytest.raises(ValueError, match="at least one"):
        forecast([math.nan, math.nan])
    with pytest.raises(ValueError, match="not finite"):
        forecast([1.0, float("inf"), 2.0])
    with pytest.raises(ValueError, match="horizon"):
        forecast([1.0, 2.0], h=0)
