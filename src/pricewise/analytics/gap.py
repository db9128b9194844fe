"""Gap diagnosis of a pricing plan: metrics, and the gaps they show against stated thresholds.
Pure: no web, no database. Definitions and thresholds are in docs/analytics.md.

- ARPU / list: last month's revenue per subscription over the list price x minimum units.
  Below 0.85: discounts or unused minimums; above 1.15: expansion revenue the list price hides.
- Price vs competitors: list price over the median of competitors' known prices, minus 1;
  beyond +/-20% the plan is priced away from its market.
- Gross margin: (price - COGS per unit) / price; below 50% thin, below 0 a loss per unit.
- Adoption: subscription growth, last 3 months over the 3 before; below 0 adoption is falling.
- Churn: share of customers active 3 months ago who churned since; the trend is that minus the
  same rate 3 months earlier. Above 15%, or rising by more than 2 points, churn is a gap.
- Segment concentration: Herfindahl index of the segments' 12-month revenue shares; above 0.5
  the plan depends on one segment.
- Value-metric fit: Spearman rank correlation between customers' usage (last 90 days) and their
  monthly revenue, with at least 5 customers; below 0.3 the price does not follow the value used.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Finding:
    metric: str
    text: str
    figures: dict[str, float] = field(default_factory=dict)  # every number the text shows


def hhi(shares: Sequence[float]) -> float | None:
    total = sum(shares)
    return sum((s / total) ** 2 for s in shares) if total > 0 else None


def _ranks(xs: Sequence[float]) -> list[float]:
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    ranks = [0.0] * len(xs)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and xs[order[j + 1]] == xs[order[i]]:
            j += 1
        for k in range(i, j + 1):  # ties share their mean rank
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    if len(xs) != len(ys) or len(xs) < 5:
        return None
    rx, ry = _ranks(xs), _ranks(ys)
    if len(set(rx)) < 2 or len(set(ry)) < 2:
        return None
    return float(statistics.correlation(rx, ry))


@dataclass(frozen=True)
class PlanFacts:
    list_price: float
    revenue: Sequence[float]  # monthly, oldest first
    subscriptions: Sequence[float]
    cogs: float | None
    competitor_prices: Sequence[float]
    last_common: tuple[float, float] | None  # (revenue, subscriptions) of the latest month both have
    churn: float | None
    churn_previous: float | None
    segment_revenue: dict[str, float]
    usage_vs_revenue: Sequence[tuple[float, float]]


def _growth(values: Sequence[float], window: int = 3) -> float | None:
    if len(values) < 2 * window or sum(values[-2 * window:-window]) == 0:
        return None
    return sum(values[-window:]) / sum(values[-2 * window:-window]) - 1.0


def _r(x: float | None, n: int = 4) -> float | None:
    return None if x is None else round(x, n)


def metrics(f: PlanFacts) -> dict[str, float | str | int | None]:
    arpu = f.last_common[0] / f.last_common[1] if f.last_common and f.last_common[1] else None
    comp = statistics.median(f.competitor_prices) if f.competitor_prices else None
    margin = (f.list_price - f.cogs) / f.list_price if f.cogs is not None and f.list_price > 0 else None
    top = max(f.segment_revenue.items(), key=lambda kv: kv[1]) if f.segment_revenue else None
    total_seg = sum(f.segment_revenue.values())
    return {
        "list_price": _r(f.list_price, 2), "arpu": _r(arpu, 2),
        "arpu_to_list": _r(arpu / f.list_price if arpu is not None and f.list_price > 0 else None),
        "competitor_median_price": _r(comp, 2), "competitors_priced": len(f.competitor_prices),
        "price_vs_competitors": _r(f.list_price / comp - 1 if comp else None),
        "gross_margin": _r(margin),
        "subscription_growth": _r(_growth(f.subscriptions)), "revenue_growth": _r(_growth(f.revenue)),
        "churn_rate": _r(f.churn), "churn_trend": _r(f.churn - f.churn_previous
                                                     if f.churn is not None and f.churn_previous is not None else None),
        "segment_hhi": _r(hhi(list(f.segment_revenue.values()))),
        "top_segment": top[0] if top else None,
        "top_segment_share": _r(top[1] / total_seg if top and total_seg > 0 else None),
        "value_metric_fit": _r(spearman([u for u, _ in f.usage_vs_revenue], [r for _, r in f.usage_vs_revenue])),
        "customers_with_usage": len(f.usage_vs_revenue),
        "months_of_data": max(len(f.revenue), len(f.subscriptions)),
        "window_months": 3, "thin_margin_pct": 50,  # constants the texts cite
    }


def _pct(x: float) -> str:
    return f"{x * 100:.1f}%"


def _f(metric: str, template: str, **figures: float) -> Finding:
    """A finding whose text shows `figures`: `_pct` fractions as percentages, `_pts` as percentage
    points (one decimal each), the rest as they are."""
    def scaled(k: str) -> bool:
        return k.endswith(("_pct", "_pts"))

    shown = {k: round(v * 100, 1) if scaled(k) else round(v, 2) for k, v in figures.items()}
    text = template.format(**{k: f"{v:.1f}%" if k.endswith("_pct") else (f"{v:.1f}" if scaled(k) else f"{v:g}")
                              for k, v in shown.items()})
    return Finding(metric, text, shown)


def findings(m: dict[str, float | str | int | None]) -> list[Finding]:
    out: list[Finding] = []

    def num(key: str) -> float | None:
        v = m.get(key)
        return float(v) if isinstance(v, int | float) else None

    if (a := num("arpu_to_list")) is not None and a < 0.85:
        out.append(_f("arpu_to_list", "revenue per subscription is {below_list_pct} below the list price "
                                      "(discounts or unused minimums)", below_list_pct=1 - a))
    elif a is not None and a > 1.15:
        out.append(_f("arpu_to_list", "revenue per subscription is {above_list_pct} above the list price "
                                      "(expansion revenue the list price does not show)", above_list_pct=a - 1))
    if (c := num("price_vs_competitors")) is not None and abs(c) > 0.20:
        side = "above" if c > 0 else "below"
        out.append(_f("price_vs_competitors", "the list price is {gap_to_market_pct} " + side +
                      " the competitors' median", gap_to_market_pct=abs(c)))
    if (g := num("gross_margin")) is not None and g < 0.5:
        out.append(_f("gross_margin", "gross margin is {margin_pct}" + (", a loss on every unit" if g < 0
                                                                         else ", below 50%"), margin_pct=g))
    if (s := num("subscription_growth")) is not None and s < 0:
        out.append(_f("subscription_growth", "subscriptions fell {fall_pct} over the last 3 months", fall_pct=-s))
    churn, trend = num("churn_rate"), num("churn_trend")
    if churn is not None and churn > 0.15:
        out.append(_f("churn_rate", "{churn_pct} of customers churned in the last 3 months", churn_pct=churn))
    if trend is not None and trend > 0.02:
        out.append(_f("churn_trend", "churn rose {rise_pts} percentage points against the 3 months before",
                      rise_pts=trend))
    if (h := num("segment_hhi")) is not None and h > 0.5:
        name = str(m.get("top_segment")).replace("{", "{{").replace("}", "}}")
        out.append(_f("segment_hhi", "revenue is concentrated: " + name + " brings "
                                     "{top_share_pct} (HHI {hhi})", top_share_pct=num("top_segment_share") or 0,
                      hhi=h))
    if (v := num("value_metric_fit")) is not None and v < 0.3:
        out.append(_f("value_metric_fit", "price does not follow usage: rank correlation {rho} over "
                                          "{customers} customers", rho=v,
                      customers=float(num("customers_with_usage") or 0)))
    return out
