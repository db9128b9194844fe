"""Predicted customer satisfaction (0-10) from task-to-product fit and usage, calibrated on feedback.

Pure computation: vectors, usage aggregates and recorded scores in, figures out. The formula and
its default weights are documented in docs/analytics.md ("Usage and satisfaction").

    fit   = 0.6 * s(max cosine) + 0.4 * s(mean of the top-3 cosines),  s(c) = clip((c - 0.3) / 0.5, 0, 1)
    z     = b0 + w_fit * fit + w_rec * (2 * exp(-days / 30) - 1) + w_trend * trend
            + w_breadth * log(1 + metrics) / log(6) (capped at 1) + w_none * [no usage]
    raw   = 10 / (1 + exp(-z))
    score = a + b * raw    (least squares on recorded feedback, shrunk toward a = 0, b = 1)
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray

COS_FLOOR, COS_SPAN = 0.3, 0.5  # static embeddings of unrelated texts still sit near 0.3
TOP_K = 3
RECENCY_DAYS = 30.0  # exp(-days / 30): half of full credit after ~21 days, none after a few months
BREADTH_CAP = 5  # distinct metrics at which breadth earns full credit
SHRINK_N = 5.0  # feedback rows at which the data and the prior weigh the same
DEFAULT_HALF_WIDTH = 3.0  # the interval without feedback: raw +- 3 points
Z80 = 1.2816  # two-sided 80% normal quantile
MAX_PASSAGES = 200

_SPLIT = re.compile(r"(?:\r?\n|[;•·]|(?<=[.!?])\s+)")


@dataclass(frozen=True)
class Weights:
    intercept: float = -1.5
    fit: float = 3.0
    recency: float = 1.0
    trend: float = 0.8
    breadth: float = 0.7
    no_usage: float = -0.3


DEFAULT_WEIGHTS = Weights()


@dataclass(frozen=True)
class UsageStats:
    """One customer's usage aggregates as of a date (None when the customer has no records)."""

    records: int
    last_date: date
    last_30d: float
    previous_30d: float
    metrics_90d: int


@dataclass(frozen=True)
class Fit:
    max_cos: float
    mean_top: float
    score: float  # 0..1
    best: int  # index of the best-matching passage, -1 without passages


@dataclass(frozen=True)
class Calibration:
    n: int
    intercept: float
    slope: float
    mae: float  # leave-one-out
    bias: float  # leave-one-out, mean(predicted - recorded)
    half_width: float  # of the 80% interval

    def apply(self, raw: float) -> float:
        return clip10(self.intercept + self.slope * raw)

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "mae": round(self.mae, 2), "bias": round(self.bias, 2),
                "intercept": round(self.intercept, 3), "slope": round(self.slope, 3)}


@dataclass
class Prediction:
    score: float
    interval: tuple[float, float]
    raw: float
    z: float
    fit: Fit
    usage: dict[str, Any]
    calibration: Calibration | None = None
    terms: dict[str, float] = field(default_factory=dict)


def clip10(x: float) -> float:
    return min(max(x, 0.0), 10.0)


# --- task-to-product fit --------------------------------------------------------------------

def passages(*texts: str | None) -> list[str]:
    """Documented text cut into feature-sized passages (lines, sentences, bullets, semicolons)."""
    out: list[str] = []
    seen: set[str] = set()
    for t in texts:
        for p in _SPLIT.split(t or ""):
            p = p.strip(" -*\t")
            if len(p) >= 3 and p.lower() not in seen:
                seen.add(p.lower())
                out.append(p[:2000])
    return out[:MAX_PASSAGES]


def _rescale(c: float) -> float:
    return min(max((c - COS_FLOOR) / COS_SPAN, 0.0), 1.0)


def task_fit(task: NDArray[np.float32], docs: NDArray[np.float32], k: int = TOP_K) -> Fit:
    """Cosine of a normalized task vector against normalized passage vectors."""
    if docs.shape[0] == 0 or not np.any(task):
        return Fit(0.0, 0.0, 0.0, -1)
    cos = docs @ task
    order = np.argsort(-cos)
    top = cos[order[:k]]
    mx, mean = float(top[0]), float(top.mean())
    return Fit(mx, mean, 0.6 * _rescale(mx) + 0.4 * _rescale(mean), int(order[0]))


# --- usage ----------------------------------------------------------------------------------

def usage_features(stats: UsageStats | None, as_of: date) -> dict[str, Any]:
    if stats is None or stats.records == 0:
        return {"records": 0, "last_used": None, "days_since_last_use": None, "last_30d": 0.0,
                "previous_30d": 0.0, "trend": 0.0, "distinct_metrics_90d": 0}
    days = max((as_of - stats.last_date).days, 0)
    total = stats.last_30d + stats.previous_30d
    trend = (stats.last_30d - stats.previous_30d) / total if total > 0 else 0.0
    return {"records": stats.records, "last_used": stats.last_date.isoformat(), "days_since_last_use": days,
            "last_30d": round(stats.last_30d, 3), "previous_30d": round(stats.previous_30d, 3),
            "trend": round(trend, 3), "distinct_metrics_90d": stats.metrics_90d}


def terms(fit: Fit, usage: dict[str, Any], w: Weights = DEFAULT_WEIGHTS) -> dict[str, float]:
    """Each feature's contribution to z (the logit of raw / 10)."""
    none = usage["records"] == 0
    days = usage["days_since_last_use"]
    recency = 0.0 if none or days is None else 2.0 * math.exp(-days / RECENCY_DAYS) - 1.0
    breadth = min(math.log1p(usage["distinct_metrics_90d"]) / math.log1p(BREADTH_CAP), 1.0)
    return {"intercept": w.intercept, "fit": w.fit * fit.score, "recency": w.recency * recency,
            "trend": w.trend * float(usage["trend"]), "breadth": w.breadth * breadth,
            "no_usage": w.no_usage if none else 0.0}


def raw_score(fit: Fit, usage: dict[str, Any], w: Weights = DEFAULT_WEIGHTS) -> tuple[float, float]:
    """(raw 0..10, z): the logistic squashing of the weighted sum."""
    z = sum(terms(fit, usage, w).values())
    return 10.0 / (1.0 + math.exp(-z)), z


# --- calibration on recorded feedback ---------------------------------------------------------

def _fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Least squares y = a + b x, shrunk toward the identity (0, 1) with weight n / (n + SHRINK_N).
    One point or no spread in x: only the mean shift is learnt. The slope is kept >= 0 so a
    calibration never turns the ranking upside down."""
    n = len(x)
    if n == 0:
        return 0.0, 1.0
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    mx, my = float(xa.mean()), float(ya.mean())
    sxx = float(((xa - mx) ** 2).sum())
    b_hat = float(((xa - mx) * (ya - my)).sum() / sxx) if n >= 2 and sxx > 1e-9 else 1.0
    b_hat = max(b_hat, 0.0)
    a_hat = my - b_hat * mx
    w = n / (n + SHRINK_N)
    return w * a_hat, w * b_hat + (1.0 - w)


def calibrate(raw: Sequence[float], recorded: Sequence[float]) -> Calibration | None:
    """Linear recalibration with leave-one-out MAE and bias, and the 80% interval half-width from
    the leave-one-out residuals (blended with the default width while n is small)."""
    n = len(raw)
    if n == 0:
        return None
    a, b = _fit_line(raw, recorded)
    residuals = []
    for i in range(n):
        ai, bi = _fit_line([*raw[:i], *raw[i + 1:]], [*recorded[:i], *recorded[i + 1:]])
        residuals.append(clip10(ai + bi * raw[i]) - recorded[i])
    res = np.asarray(residuals, dtype=float)
    w = n / (n + SHRINK_N)
    half = w * Z80 * float(np.sqrt((res ** 2).mean())) + (1.0 - w) * DEFAULT_HALF_WIDTH
    return Calibration(n, a, b, float(np.abs(res).mean()), float(res.mean()), half)


def predict(fit: Fit, usage: dict[str, Any], calibration: Calibration | None,
            w: Weights = DEFAULT_WEIGHTS) -> Prediction:
    raw, z = raw_score(fit, usage, w)
    score = calibration.apply(raw) if calibration else raw
    half = calibration.half_width if calibration else DEFAULT_HALF_WIDTH
    r = round(score, 1)
    return Prediction(r, (round(clip10(r - half), 1), round(clip10(r + half), 1)), raw, z, fit, usage,
                      calibration, {k: round(v, 3) for k, v in terms(fit, usage, w).items()})


# --- the narrative template -------------------------------------------------------------------

def _num(x: float) -> str:
    return f"{x:g}"


def reasoning(p: Prediction, best_passage: str | None) -> str:
    """The template narrative: every figure it cites is one of the prediction's."""
    lo, hi = p.interval
    parts = [f"Predicted satisfaction {p.score:.1f}/10 (80% interval {lo:.1f} to {hi:.1f})."]
    fit = f"Task-to-product fit {p.fit.score:.2f}: best cosine {p.fit.max_cos:.2f}, top-{TOP_K} mean " \
          f"{p.fit.mean_top:.2f}"
    parts.append(fit + (f" (closest documented feature: \"{best_passage[:120]}\")." if best_passage else "."))
    u = p.usage
    if u["records"] == 0:
        parts.append("No recorded usage for this customer, which counts against the prediction.")
    else:
        days = u["days_since_last_use"]
        parts.append(f"Usage: last used {days} day{'' if days == 1 else 's'} ago; {_num(u['last_30d'])} in the last "
                     f"30 days vs {_num(u['previous_30d'])} in the previous 30 (trend {u['trend']:+.2f}); "
                     f"{u['distinct_metrics_90d']} distinct metrics in 90 days.")
    c = p.calibration
    if c is None:
        parts.append(f"Baseline model score {p.raw:.1f}, uncalibrated (no recorded feedback for this product).")
    else:
        parts.append(f"Baseline model score {p.raw:.1f}, calibrated on {c.n} recorded feedback scores "
                     f"(leave-one-out MAE {c.mae:.2f}, bias {c.bias:+.2f}).")
    return " ".join(parts)
