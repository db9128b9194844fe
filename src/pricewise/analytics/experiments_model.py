"""Predicted impact of a pricing experiment, and its actual results against the prediction.
Pure: no web, no database.

An experiment is a sum of parts. A part carries a share s of one plan's baseline (its forecasts
at p0, the list price in force in its last month of data, `scenarios.Paths`) to a new price p1.
Under constant-elasticity demand q = A p^e (e.g. Hanssens, Parsons & Schultz, "Market Response
Models", 2001), the demand ratio is r = (p1 / p0)^e and, month by month,
    subscriptions = s x baseline subscriptions x r
    revenue       = s x baseline revenue x r x p1 / p0
    margin        = revenue x (p1 - c) / p1        (c the unit cost; 0 when unknown)
- price_change: one part, s = 1.
- new_tier: the share s moving to the tier at price pt (r = (pt / p0)^e), plus 1 - s staying
  on the baseline plan at p0.
- bundling: each bundled plan i at p1_i = p0_i x B / sum(p0), so every plan sees the same relative
  price B / sum(p0) through its own elasticity.
80% bounds: the forecast's 80% bounds paired with the less (lower bound) or more (upper bound)
favourable demand ratio over the elasticity's 80% interval e +/- 1.2816 sd: conservative. The
change against the baseline is bounded by the elasticity's interval alone (the baseline's own
uncertainty moves both sides alike).
Actual results: MAPE = mean |actual - predicted| / |actual| over months with a non-zero actual
(Hyndman & Koehler 2006), and whether each month's actual falls within the predicted 80% band.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pricewise.analytics.elasticity import Elasticity, demand_ratio, ratio_interval
from pricewise.analytics.forecast import Z
from pricewise.analytics.scenarios import Paths


@dataclass(frozen=True)
class Part:
    label: str
    plan_id: str
    base: Paths
    share: float
    old_price: float
    new_price: float
    elasticity: Elasticity
    unit_cost: float | None
    tracked: bool = True  # compared with the tracked plans' actual data later

    def ratios(self) -> tuple[float, float, float]:
        if abs(self.new_price - self.old_price) < 1e-12:
            return 1.0, 1.0, 1.0
        lo, hi = ratio_interval(self.new_price, self.old_price, self.elasticity, Z[80])
        return demand_ratio(self.new_price, self.old_price, self.elasticity.value), lo, hi


@dataclass(frozen=True)
class Band:
    mean: list[float]
    lo: list[float]
    hi: list[float]

    def __add__(self, other: Band) -> Band:
        def add(a: list[float], b: list[float]) -> list[float]:
            return [x + y for x, y in zip(a, b, strict=True)]
        return Band(add(self.mean, other.mean), add(self.lo, other.lo), add(self.hi, other.hi))

    @staticmethod
    def zeros(n: int) -> Band:
        return Band([0.0] * n, [0.0] * n, [0.0] * n)

    def totals(self) -> tuple[float, float, float]:
        return sum(self.mean), sum(self.lo), sum(self.hi)

    def averages(self) -> tuple[float, float, float]:
        n = max(len(self.mean), 1)
        return sum(self.mean) / n, sum(self.lo) / n, sum(self.hi) / n


def _scaled(values: Sequence[float], x: float) -> list[float]:
    return [v * x for v in values]


def _margin_rate(price: float, cost: float | None) -> float:
    return (price - (cost or 0.0)) / price


@dataclass(frozen=True)
class PartPath:
    part: Part
    ratio: tuple[float, float, float]
    revenue: Band
    subscriptions: Band
    margin: Band


def part_path(p: Part) -> PartPath:
    r, r_lo, r_hi = p.ratios()
    k = p.new_price / p.old_price
    b = p.base
    if b.subscriptions is None or b.subscriptions_lo80 is None or b.subscriptions_hi80 is None:
        raise ValueError(f"{p.label}: an experiment needs the plan's subscription forecast")
    rev = Band(_scaled(b.revenue, p.share * r * k), _scaled(b.revenue_lo80, p.share * r_lo * k),
               _scaled(b.revenue_hi80, p.share * r_hi * k))
    subs = Band(_scaled(b.subscriptions, p.share * r), _scaled(b.subscriptions_lo80, p.share * r_lo),
                _scaled(b.subscriptions_hi80, p.share * r_hi))
    m = _margin_rate(p.new_price, p.unit_cost)
    lo, hi = _scaled(rev.lo, m), _scaled(rev.hi, m)
    margin = Band(_scaled(rev.mean, m), [min(x, y) for x, y in zip(lo, hi, strict=True)],
                  [max(x, y) for x, y in zip(lo, hi, strict=True)])
    return PartPath(p, (r, r_lo, r_hi), rev, subs, margin)


@dataclass(frozen=True)
class Impact:
    months: list[date]
    parts: list[PartPath]
    revenue: Band
    subscriptions: Band
    margin: Band
    tracked_revenue: Band
    tracked_subscriptions: Band
    baseline_revenue: list[float]
    baseline_subscriptions: list[float]
    baseline_margin: list[float]

    def change(self, metric: str) -> dict[str, float | None]:
        """Relative change against the baseline, with bounds from the elasticity's interval only."""
        if metric == "subscriptions":
            base = sum(self.baseline_subscriptions)
            parts = [(pp.ratio, sum(_scaled(pp.part.base.subscriptions or [], pp.part.share)))
                     for pp in self.parts]
            k = [1.0] * len(self.parts)
        else:
            base = sum(self.baseline_revenue if metric == "revenue" else self.baseline_margin)
            rate = [1.0 if metric == "revenue" else _margin_rate(pp.part.new_price, pp.part.unit_cost)
                    for pp in self.parts]
            parts = [(pp.ratio, sum(pp.part.base.revenue) * pp.part.share) for pp in self.parts]
            k = [rt * pp.part.new_price / pp.part.old_price for rt, pp in zip(rate, self.parts, strict=True)]
        if base <= 0:
            return {"value": None, "lower80": None, "upper80": None}
        ends = [sum(w * ratio[i] * kk for (ratio, w), kk in zip(parts, k, strict=True)) / base - 1.0
                for i in range(3)]
        return {"value": ends[0], "lower80": min(ends[1:]), "upper80": max(ends[1:])}


def impact(parts: Sequence[Part]) -> Impact:
    """The experiment's paths. The baseline counts each plan once however many parts share it."""
    if not parts:
        raise ValueError("an experiment needs at least one part")
    months = parts[0].base.months
    if any(p.base.months != months for p in parts):
        raise ValueError("the parts' baselines must cover the same months")
    n = len(months)
    paths = [part_path(p) for p in parts]
    rev, subs, margin = Band.zeros(n), Band.zeros(n), Band.zeros(n)
    t_rev, t_subs = Band.zeros(n), Band.zeros(n)
    for pp in paths:
        rev, subs, margin = rev + pp.revenue, subs + pp.subscriptions, margin + pp.margin
        if pp.part.tracked:
            t_rev, t_subs = t_rev + pp.revenue, t_subs + pp.subscriptions
    base_rev, base_subs, base_margin = [0.0] * n, [0.0] * n, [0.0] * n
    seen: set[str] = set()
    for p in parts:
        if p.plan_id in seen:
            continue
        seen.add(p.plan_id)
        rate = _margin_rate(p.old_price, p.unit_cost)
        base_rev = [x + y for x, y in zip(base_rev, p.base.revenue, strict=True)]
        base_subs = [x + y for x, y in zip(base_subs, p.base.subscriptions or [0.0] * n, strict=True)]
        base_margin = [x + y * rate for x, y in zip(base_margin, p.base.revenue, strict=True)]
    return Impact(list(months), paths, rev, subs, margin, t_rev, t_subs, base_rev, base_subs, base_margin)


def _metric_rows(predicted: Sequence[Mapping[str, Any]], actual: Mapping[date, float], metric: str
                 ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for p in predicted:
        a = actual.get(date.fromisoformat(p["date"][:10]))
        if a is None:
            continue
        mean, lo, hi = p[metric], p[f"{metric}_lower80"], p[f"{metric}_upper80"]
        rows.append({"date": p["date"], "actual": a, "predicted": mean, "lower80": lo, "upper80": hi,
                     "error": a - mean, "within80": lo <= a <= hi})
    ape = [abs(r["error"]) / abs(r["actual"]) for r in rows if r["actual"] != 0]
    summary = {"months": len(rows), "actual_total": sum(r["actual"] for r in rows),
               "predicted_total": sum(r["predicted"] for r in rows),
               "mape": sum(ape) / len(ape) if ape else None,
               "within80_share": sum(r["within80"] for r in rows) / len(rows) if rows else None,
               "within80": all(r["within80"] for r in rows) if rows else None}
    return rows, summary


def compare(predicted: Sequence[Mapping[str, Any]], revenue: Mapping[date, float],
            subscriptions: Mapping[date, float]) -> dict[str, Any]:
    """Actuals by month against the predicted path (rows with an ISO `date`) and its 80% band.
    Summaries: totals over the compared months, MAPE, and the share of months within the band."""
    rev_rows, rev = _metric_rows(predicted, revenue, "revenue")
    sub_rows, subs = _metric_rows(predicted, subscriptions, "subscriptions")
    by_date: dict[str, dict[str, Any]] = {}
    for metric, rows in (("revenue", rev_rows), ("subscriptions", sub_rows)):
        for r in rows:
            by_date.setdefault(r["date"], {"date": r["date"]})[metric] = {k: v for k, v in r.items() if k != "date"}
    flags = [x for x in (rev["within80"], subs["within80"]) if x is not None]
    return {"months": [by_date[d] for d in sorted(by_date)], "revenue": rev, "subscriptions": subs,
            "within80": all(flags) if flags else None}
