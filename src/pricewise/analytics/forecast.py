"""Forecasts with a per-series model choice by rolling-origin backtest. Pure: no web, no database.

Candidates (statsforecast): AutoETS, AutoARIMA, AutoTheta and SeasonalNaive, seasonal with period
12 when the series covers at least two seasons, non-seasonal (Naive instead of SeasonalNaive)
otherwise. The candidate with the lowest mean absolute scaled error (MASE, Hyndman & Koehler
2006) over `folds` rolling origins is refitted on the whole series and forecasts `h` months with
80% and 95% intervals. Fallbacks, each said in `fallback`:
- one point: flat at that value; the interval cannot be estimated from one point, so it is the
  value +/- z * 10% of it, widening with the square root of the step;
- all values zero: zeros, with zero-width intervals;
- fewer than 6 points: no backtest is possible; the random walk (Naive) is used.
Non-negative series (revenue, subscriptions) have forecasts and bounds clipped at zero.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

SEASON = 12
LEVELS = (80, 95)
Z = {80: 1.2816, 95: 1.96}


@dataclass(frozen=True)
class Forecast:
    model: str
    mean: list[float]
    lo80: list[float]
    hi80: list[float]
    lo95: list[float]
    hi95: list[float]
    mase: float | None
    candidates: dict[str, float] = field(default_factory=dict)
    fallback: str | None = None
    season_length: int = 1


def _models(season: int) -> dict[str, Callable[[], Any]]:
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    return {
        "AutoETS": lambda: AutoETS(season_length=season),
        "AutoARIMA": lambda: AutoARIMA(season_length=season),
        "AutoTheta": lambda: AutoTheta(season_length=season),
        "SeasonalNaive" if season > 1 else "Naive": (
            (lambda: SeasonalNaive(season_length=season)) if season > 1 else (lambda: Naive())),
    }


def _predict(make: Callable[[], Any], y: np.ndarray, h: int) -> dict[str, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out: dict[str, np.ndarray] = make().forecast(y=y.astype(np.float64), h=h, level=list(LEVELS))
    return out


def mase_scale(y: np.ndarray, season: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag 1 if too short)."""
    lag = season if len(y) > season else 1
    diffs = np.abs(y[lag:] - y[:-lag])
    scale = float(diffs.mean()) if diffs.size else 0.0
    return scale if scale > 0 else float(np.abs(y).mean() or 1.0)


def backtest(y: np.ndarray, season: int, folds: int, horizon: int,
             models: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """MASE of each model over `folds` rolling origins, each forecasting `horizon` steps."""
    n = len(y)
    errors: dict[str, list[float]] = {name: [] for name in models}
    for k in range(folds, 0, -1):
        origin = n - k * horizon
        if origin < max(4, 2 * season if season > 1 else 4):
            continue
        train, test = y[:origin], y[origin:origin + horizon]
        scale = mase_scale(train, season)
        for name, make in models.items():
            try:
                pred = _predict(make, train, len(test))["mean"]
                errors[name].append(float(np.mean(np.abs(pred - test))) / scale)
            except Exception:
                errors[name].append(math.inf)
    return {name: float(np.mean(e)) for name, e in errors.items() if e}


def _flat(value: float, h: int, spread: float, model: str, fallback: str) -> Forecast:
    steps = np.sqrt(np.arange(1, h + 1))
    mean = [value] * h
    bounds = {lvl: spread * Z[lvl] * steps for lvl in LEVELS}
    return Forecast(model, mean, list(value - bounds[80]), list(value + bounds[80]), list(value - bounds[95]),
                    list(value + bounds[95]), None, {}, fallback)


def _clip(f: Forecast) -> Forecast:
    def c(v: list[float]) -> list[float]:
        return [max(0.0, x) for x in v]
    return Forecast(f.model, c(f.mean), c(f.lo80), c(f.hi80), c(f.lo95), c(f.hi95), f.mase, f.candidates,
                    f.fallback, f.season_length)


def forecast(values: Sequence[float], h: int = 12, *, season: int = SEASON, folds: int = 2,
             non_negative: bool = True) -> Forecast:
    y = np.asarray(values, dtype=np.float64)
    if y.size == 0:
        raise ValueError("a forecast needs at least one observation")
    if not np.all(np.isfinite(y)):
        raise ValueError("the series contains values that are not finite")
    if h < 1:
        raise ValueError("the horizon must be at least 1")
    if y.size == 1:
        out = _flat(float(y[0]), h, abs(float(y[0])) * 0.10, "Flat", "a single observation: flat forecast, "
                    "interval from a 10% spread because no variance can be estimated")
    elif not np.any(y):
        out = _flat(0.0, h, 0.0, "Flat", "all observations are zero")
    else:
        seasonal = season > 1 and y.size >= 2 * season
        m = season if seasonal else 1
        note = None if seasonal else f"shorter than two seasons ({2 * season} months): non-seasonal models"
        models = _models(m)
        horizon = min(h, max(1, y.size // 6))
        scores = backtest(y, m, folds, horizon, models) if y.size >= 6 else {}
        if scores and min(scores.values()) < math.inf:
            name = min(scores, key=lambda k: (scores[k], k))
        else:
            from statsforecast.models import Naive

            models = {**models, "Naive": lambda: Naive()}
            name = "Naive"
            note = "fewer than 6 observations: no backtest possible, random walk used"
        p = _predict(models[name], y, h)
        out = Forecast(name, list(map(float, p["mean"])), list(map(float, p["lo-80"])),
                       list(map(float, p["hi-80"])), list(map(float, p["lo-95"])), list(map(float, p["hi-95"])),
                       scores.get(name), scores, note, m)
    return _clip(out) if non_negative else out
