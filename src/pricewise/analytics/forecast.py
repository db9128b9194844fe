"""Forecasts with a per-series model choice by rolling-origin backtest. Pure: no web, no database.

Candidates (statsforecast), simplest first: SeasonalNaive (Naive when the series is shorter than
two seasons, and then every candidate is non-seasonal), AutoTheta, AutoETS (additive errors) and
AutoARIMA with a restricted search (seasonality through differencing only, five models): the
unrestricted seasonal searches cost five times more and chose no better (bench/forecast_accuracy.py).

1. Each candidate's form (the ETS components, the ARIMA orders, the Theta variant) is chosen by
   its own search on the whole series; that fit gives the final forecast if the candidate wins
   (ARIMA's search estimates by conditional sums of squares: its orders are fitted by CSS-ML).
2. Backtest: each form's parameters are estimated on the series up to the earliest of `folds`
   rolling origins, `b = min(h, n - first origin allowed)` apart, and the model runs forward
   without re-estimation to each later origin (Tashman 2000); each origin forecasts `b` steps.
3. The lowest mean absolute scaled error (MASE, Hyndman & Koehler 2006) wins; ties go to the
   simpler model.

A `spec` from an earlier forecast (see `Forecast.spec`) skips steps 1-3 and refits that form, as
long as the season length is the same and the series has grown by less than one season since.

Fallbacks, each said in `fallback`:
- missing values (NaN) inside the series are filled by linear interpolation, the last one(s)
  carried forward, leading ones dropped; leading zeros (before a plan had any revenue) are left out;
- one point: flat at that value; the interval cannot be estimated from one point, so it is the
  value +/- z * 10% of it, widening with the square root of the step;
- all values zero: zeros, with zero-width intervals;
- fewer than 6 points: no backtest is possible; the random walk (Naive) is used.
Non-negative series (revenue, subscriptions) have forecasts and bounds clipped at zero.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

SEASON = 12
LEVELS = (80, 95)
Z = {80: 1.2816, 95: 1.96}
MIN_BACKTEST = 6
# Simplest first: the order breaks ties.
CANDIDATES = ("SeasonalNaive", "AutoTheta", "AutoETS", "AutoARIMA")
# D and d by tests, then (0,d,0)(0,D,0) with and without a constant, (1,d,0) and (0,d,1), by AICc on
# conditional sums of squares. Seasonal AR/MA terms were the slowest fits and won nothing.
ARIMA_SEARCH: dict[str, Any] = {"max_p": 1, "max_q": 1, "max_P": 0, "max_Q": 0, "start_p": 0, "start_q": 0,
                                "start_P": 0, "start_Q": 0, "nmodels": 5, "method": "CSS"}
PARALLEL_FROM = 16  # forecast_many: fewer series than this run in the calling process


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
    # The chosen model's fitted form, JSON-serialisable, for `forecast(spec=...)`; empty for a fallback.
    spec: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # the form came from `spec`: no search, no backtest this time


# --- candidates ---------------------------------------------------------------------------

def _search(name: str, y: np.ndarray, m: int) -> tuple[Any, dict[str, Any]]:
    """Fit a candidate's own search on y; the fitted model and its form."""
    from statsforecast.models import AutoARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    if name == "AutoETS":
        # Additive errors; trend none, additive or damped; season none or additive, undamped with a
        # season: damped seasonal forms were the costliest fits and never chosen on short series.
        ets = AutoETS(season_length=m, model="AZN").fit(y)
        if m > 1:
            seasonal = AutoETS(season_length=m, model="AZA", damped=False).fit(y)
            ets = seasonal if seasonal.model_["aicc"] < ets.model_["aicc"] else ets
        c = ets.model_["components"]  # e.g. "AADN": error, trend, season, damped
        return ets, {"ets": c[0] + c[1] + ("d" if c[3] == "D" else "") + c[2]}
    if name == "AutoARIMA":
        arima = AutoARIMA(season_length=m, **ARIMA_SEARCH).fit(y)
        p, q, sp, sq, _, d, sd = (int(v) for v in arima.model_["arma"])
        const = bool({"intercept", "drift"} & set(arima.model_["coef"]))
        form = {"order": [p, d, q], "seasonal_order": [sp, sd, sq], "constant": const}
        # The search's own model forecasts poorly (statsforecast's CSS path); its estimates are fine.
        return _fixed(name, form, m, fixed=dict(arima.model_["coef"])).fit(y), form
    if name == "AutoTheta":
        theta = AutoTheta(season_length=m).fit(y)
        return theta, {"theta": str(theta.model_["modeltype"])}
    naive = SeasonalNaive(season_length=m) if m > 1 else Naive()
    return naive.fit(y), {}


def _fit(name: str, form: dict[str, Any], m: int, y: np.ndarray) -> Any:
    """A model of exactly this form with its parameters estimated on y."""
    if name == "AutoARIMA":
        # Conditional sum of squares estimates, then the exact state-space filter with them fixed
        # for the forecast and its intervals. CSS-ML's likelihood stage cost as much again and
        # left the CSS estimates where they were (statsforecast 2.1.1).
        coef = _fixed(name, form, m, method="CSS").fit(y).model_["coef"]
        return _fixed(name, form, m, fixed=dict(coef)).fit(y)
    return _fixed(name, form, m).fit(y)


def _fixed(name: str, form: dict[str, Any], m: int, method: str = "CSS-ML",
           fixed: dict[str, float] | None = None) -> Any:
    """An unfitted model of exactly this form (parameters are estimated by `fit`)."""
    from statsforecast.models import ARIMA, AutoETS, AutoTheta, Naive, SeasonalNaive

    if name == "AutoETS":
        ets = str(form["ets"])
        if len(ets) not in (3, 4) or (len(ets) == 4 and ets[2] != "d"):
            raise ValueError(f"bad ETS form {ets!r}")
        return AutoETS(season_length=m, model=ets.replace("d", ""), damped="d" in ets)
    if name == "AutoARIMA":
        order = tuple(int(v) for v in form["order"])
        seasonal = tuple(int(v) for v in form["seasonal_order"])
        if len(order) != 3 or len(seasonal) != 3 or min(order + seasonal) < 0:
            raise ValueError("bad ARIMA orders")
        return ARIMA(order=order, seasonal_order=seasonal, season_length=m,
                     include_constant=bool(form.get("constant", False)), method=method, fixed=fixed)
    if name == "AutoTheta":
        return AutoTheta(season_length=m, model=str(form["theta"]))
    if name in ("SeasonalNaive", "Naive"):
        return SeasonalNaive(season_length=m) if m > 1 else Naive()
    raise ValueError(f"unknown model {name!r}")


def _label(name: str, m: int) -> str:
    return "Naive" if name == "SeasonalNaive" and m == 1 else name


def mase_scale(y: np.ndarray, season: int) -> float:
    """In-sample mean absolute error of the seasonal naive forecast (lag 1 if too short)."""
    lag = season if len(y) > season else 1
    diffs = np.abs(y[lag:] - y[:-lag])
    scale = float(diffs.mean()) if diffs.size else 0.0
    return scale if scale > 0 else float(np.abs(y).mean() or 1.0)


def origins(n: int, m: int, folds: int, h: int) -> tuple[list[int], int]:
    """Backtest origins (earliest first) and the steps forecast from each."""
    first = max(4, 2 * m if m > 1 else 4)  # a seasonal model needs two seasons to fit
    step = min(h, n - first)
    if step < 1:
        return [], 0
    return [n - k * step for k in range(folds, 0, -1) if n - k * step >= first], step


def backtest(y: np.ndarray, m: int, origins_: list[int], step: int,
             forms: dict[str, dict[str, Any]]) -> dict[str, float]:
    """MASE of each form over the origins: fitted at the first, run forward to the others."""
    errors: dict[str, list[float]] = {name: [] for name in forms}
    scales = {o: mase_scale(y[:o], m) for o in origins_}
    for name, form in forms.items():
        try:
            model = _fit(name, form, m, y[:origins_[0]])
            for o in origins_:
                pred = model.predict(h=step) if o == origins_[0] else model.forward(y=y[:o], h=step)
                err = float(np.mean(np.abs(pred["mean"] - y[o:o + step]))) / scales[o]
                errors[name].append(err if math.isfinite(err) else math.inf)
        except Exception:
            errors[name] = [math.inf]
    return {name: float(np.mean(e)) for name, e in errors.items()}


# --- the forecast -------------------------------------------------------------------------

def _flat(value: float, h: int, spread: float, model: str, fallback: str) -> Forecast:
    steps = np.sqrt(np.arange(1, h + 1))
    mean = [value] * h
    bounds = {lvl: spread * Z[lvl] * steps for lvl in LEVELS}
    return Forecast(model, mean, list(value - bounds[80]), list(value + bounds[80]), list(value - bounds[95]),
                    list(value + bounds[95]), None, {}, fallback)


def _clip(f: Forecast) -> Forecast:
    def c(v: list[float]) -> list[float]:
        return [max(0.0, x) for x in v]
    return replace(f, mean=c(f.mean), lo80=c(f.lo80), hi80=c(f.hi80), lo95=c(f.lo95), hi95=c(f.hi95))


def _clean(values: Sequence[float]) -> tuple[np.ndarray, list[str]]:
    """Gaps filled, leading zeros left out; what was done, for `fallback`."""
    y = np.asarray(values, dtype=np.float64).ravel()
    if np.any(np.isinf(y)):
        raise ValueError("the series contains values that are not finite")
    notes: list[str] = []
    known = np.flatnonzero(~np.isnan(y))
    if known.size == 0:
        raise ValueError("a forecast needs at least one observation")
    y = y[known[0]:]
    missing = np.isnan(y)
    if missing.any():
        idx = np.arange(y.size)
        y = np.interp(idx, idx[~missing], y[~missing])  # past the last value: carried forward
        notes.append(f"{int(missing.sum())} missing value(s) filled by linear interpolation")
    nonzero = np.flatnonzero(y)
    if nonzero.size and nonzero[0] > 0:
        notes.append(f"{int(nonzero[0])} leading zero(s) left out: the series starts at its first non-zero value")
        y = y[nonzero[0]:]
    return y, notes


def _intervals(name: str, model: Any, h: int, mase: float | None, candidates: dict[str, float],
               note: str | None, m: int, spec: dict[str, Any], reused: bool = False) -> Forecast:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p = model.predict(h=h, level=list(LEVELS))
    cols = [list(map(float, p[k])) for k in ("mean", "lo-80", "hi-80", "lo-95", "hi-95")]
    if not all(math.isfinite(v) for col in cols for v in col):
        raise ValueError("the model gave a forecast that is not finite")
    mean, lo80, hi80, lo95, hi95 = cols
    return Forecast(_label(name, m), mean, lo80, hi80, lo95, hi95, mase, candidates, note, m, spec, reused)


def _join(notes: list[str]) -> str | None:
    return "; ".join(notes) or None


def usable(spec: dict[str, Any] | None, n: int, m: int, season: int) -> bool:
    """The reuse rule: a searched form, same season length, grown by less than one season since."""
    if not spec or spec.get("model") not in (*CANDIDATES, "Naive"):
        return False
    try:
        grown = n - int(spec["n"])
        return int(spec["season"]) == m and 0 <= grown < max(season, 1)
    except (KeyError, TypeError, ValueError):
        return False


def _reuse(y: np.ndarray, h: int, m: int, spec: dict[str, Any], notes: list[str]) -> Forecast | None:
    name = "SeasonalNaive" if spec["model"] == "Naive" else str(spec["model"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = _fit(name, spec, m, y)
        mase = spec.get("mase")
        return _intervals(name, model, h, float(mase) if isinstance(mase, int | float) else None, {},
                          _join(notes), m, dict(spec), reused=True)
    except Exception:
        return None  # the form no longer fits this series: search again


def _choose(y: np.ndarray, h: int, m: int, folds: int, notes: list[str]) -> Forecast:
    fits: dict[str, Any] = {}
    forms: dict[str, dict[str, Any]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in CANDIDATES:
            try:
                fits[name], forms[name] = _search(name, y, m)
            except Exception:  # noqa: S112 - e.g. too few points for this model: not a candidate
                continue
        starts, step = origins(y.size, m, folds, h)
        scores = backtest(y, m, starts, step, forms) if starts else {}
    finite = {name: s for name, s in scores.items() if math.isfinite(s)}
    for name in sorted(finite, key=lambda k: (finite[k], CANDIDATES.index(k))):
        spec = {"model": _label(name, m), "season": m, "n": int(y.size), "mase": finite[name], **forms[name]}
        try:
            return _intervals(name, fits[name], h, finite[name], {_label(k, m): v for k, v in finite.items()},
                              _join(notes), m, spec)
        except (RuntimeError, ValueError, np.linalg.LinAlgError):
            continue  # a diverging or failing fit: the next best
    return _naive(y, h, m, [*notes, "no candidate could be backtested: random walk used"])


def _naive(y: np.ndarray, h: int, m: int, notes: list[str]) -> Forecast:
    from statsforecast.models import Naive

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _intervals("Naive", Naive().fit(y), h, None, {}, _join(notes), m, {})


def forecast(values: Sequence[float], h: int = 12, *, season: int = SEASON, folds: int = 2,
             non_negative: bool = True, spec: dict[str, Any] | None = None) -> Forecast:
    """Forecast `h` steps of one series with the model its backtest prefers (see the module doc)."""
    if h < 1:
        raise ValueError("the horizon must be at least 1")
    if folds < 1:
        raise ValueError("folds must be at least 1")
    y, notes = _clean(values)
    if y.size == 1:
        out = _flat(float(y[0]), h, abs(float(y[0])) * 0.10, "Flat", "; ".join([
            *notes, "a single observation: flat forecast, interval from a 10% spread because no variance "
            "can be estimated"]))
    elif not np.any(y):
        out = _flat(0.0, h, 0.0, "Flat", "all observations are zero")
    else:
        # Seasonal models need two seasons to fit, and the backtest a few points after them.
        need = 2 * season + max(2, math.ceil(season / 4))
        seasonal = season > 1 and y.size >= need
        m = season if seasonal else 1
        if not seasonal and season > 1:
            notes.append(f"shorter than two seasons plus {need - 2 * season} observations to backtest "
                         f"({need}): non-seasonal models")
        reused = _reuse(y, h, m, spec, notes) if spec and usable(spec, y.size, m, season) else None
        if reused is not None:
            out = reused
        elif y.size < MIN_BACKTEST:
            out = _naive(y, h, m, [*notes, f"fewer than {MIN_BACKTEST} observations: no backtest possible, "
                                           "random walk used"])
        else:
            out = _choose(y, h, m, folds, notes)
    return _clip(out) if non_negative else out


# --- many series --------------------------------------------------------------------------

def _one(args: tuple[Sequence[float], int, dict[str, Any] | None, dict[str, Any]]) -> Forecast:
    values, h, spec, kw = args
    return forecast(values, h, spec=spec, **kw)


def _init_worker() -> None:
    try:  # one BLAS thread per worker: the workers already fill the cores
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: S110 - an optimisation only
        pass


def forecast_many(series: Sequence[Sequence[float]], h: int = 12, *,
                  specs: Sequence[dict[str, Any] | None] | None = None, n_jobs: int | None = None,
                  **kw: Any) -> list[Forecast]:
    """`forecast` of each series (same arguments, same choice), spread over worker processes.

    `specs`, when given, holds one earlier spec (or None) per series. `n_jobs` defaults to the
    CPUs this process may use; batches under PARALLEL_FROM series stay in this process."""
    if "spec" in kw:
        raise TypeError("forecast_many takes `specs`, one per series")
    if specs is not None and len(specs) != len(series):
        raise ValueError("specs must hold one entry (or None) per series")
    jobs = [(s, h, specs[i] if specs is not None else None, kw) for i, s in enumerate(series)]
    workers = min(n_jobs or len(os.sched_getaffinity(0)), len(jobs))
    if workers <= 1 or len(jobs) < PARALLEL_FROM:
        return [_one(j) for j in jobs]
    import multiprocessing
    import threading
    from multiprocessing.context import BaseContext

    # A single-threaded process forks its workers (they inherit statsforecast, nothing to import);
    # with other threads running, a fork could copy a held lock, so workers come from a fork server
    # that imported statsforecast once for the life of this process.
    ctx: BaseContext
    if threading.active_count() == 1:
        import statsforecast.models  # noqa: F401 - imported once here, inherited by every worker

        ctx = multiprocessing.get_context("fork")
    else:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__, "statsforecast.models"])
    chunk = max(1, math.ceil(len(jobs) / (workers * 8)))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker) as pool:
        return list(pool.map(_one, jobs, chunksize=chunk))
