"""Forecast model choice and its documented fallbacks."""

from __future__ import annotations

import numpy as np
import pytest

from pricewise.analytics.forecast import forecast


def test_seasonal_series_beats_seasonal_naive_in_backtest():
    rng = np.random.default_rng(7)
    t = np.arange(36)
    y = 200 + 3 * t + 25 * np.sin(2 * np.pi * t / 12) + rng.normal(0, 4, 36)
    f = forecast(y, h=12)
    assert f.season_length == 12 and f.fallback is None
    assert set(f.candidates) == {"AutoETS", "AutoARIMA", "AutoTheta", "SeasonalNaive"}
    assert f.mase == min(f.candidates.values()) < f.candidates["SeasonalNaive"]
    assert len(f.mean) == 12
    assert all(lo95 <= lo80 <= m <= hi80 <= hi95 for lo95, lo80, m, hi80, hi95
               in zip(f.lo95, f.lo80, f.mean, f.hi80, f.hi95, strict=True))
    assert f.mean[0] > y[-12]  # the trend carries on


@pytest.mark.parametrize(("values", "model", "says"), [
    ([5.0], "Flat", "single observation"),
    ([0.0, 0.0, 0.0, 0.0], "Flat", "zero"),
    ([1.0, 2.0, 3.0], "Naive", "fewer than 6"),
])
def test_fallbacks_say_so(values, model, says):
    f = forecast(values, h=3)
    assert f.model == model and says in (f.fallback or "")
    assert len(f.mean) == 3 and min(f.lo95) >= 0


def test_short_series_uses_non_seasonal_models():
    f = forecast([10, 12, 11, 13, 14, 13, 15, 16, 15, 17], h=2)
    assert f.season_length == 1 and "two seasons" in (f.fallback or "")


def test_bad_series_refused():
    with pytest.raises(ValueError, match="at least one"):
        forecast([])
    with pytest.raises(ValueError, match="not finite"):
        forecast([1.0, float("nan"), 2.0])
