"""Small, pure descriptive statistics for the modals: growth, shares, churn. No web, no database.

Definitions (docs/analytics.md):
- growth over a window w (months): sum(last w) / sum(previous w) - 1; needs 2w months and a
  non-zero previous window, else None.
- churn rate: customers whose churn date falls in the last 3 months / customers active at the
  start of those 3 months.
- gross margin: (price - COGS per unit) / price, when COGS is known and the price is positive.
- conversion of a plan in a segment: of the segment's customers who signed up in the last 90
  days, the share who are on the plan (None without such sign-ups).
- engagement: of the customers not churned, the share with any usage in the last 30 days.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date

PALETTE = ("#4F46E5", "#0EA5E9", "#10B981", "#F59E0B", "#EF4444", "#8B5CF6", "#14B8A6", "#F97316")


def growth(values: Sequence[float], window: int = 3) -> float | None:
    if len(values) < 2 * window:
        return None
    last = sum(values[-window:])
    prev = sum(values[-2 * window:-window])
    if prev == 0:
        return None
    return last / prev - 1.0


def pct(x: float | None, signed: bool = True) -> str | None:
    if x is None:
        return None
    return f"{x * 100:+.1f}%" if signed else f"{x * 100:.1f}%"


def money(x: float | None, currency: str = "USD") -> str | None:
    if x is None:
        return None
    symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(currency, currency + " ")
    return f"{symbol}{x:,.2f}"


def monthly_totals(points: Iterable[tuple[date, float]]) -> list[tuple[date, float]]:
    """Sum points per calendar month, in month order."""
    acc: dict[date, float] = {}
    for d, v in points:
        key = date(d.year, d.month, 1)
        acc[key] = acc.get(key, 0.0) + v
    return sorted(acc.items())


def churn_rate(signups: Sequence[date | None], churns: Sequence[date | None], as_of: date) -> float | None:
    start = date(as_of.year - (1 if as_of.month <= 3 else 0), (as_of.month - 4) % 12 + 1, 1)
    active = 0
    churned = 0
    for signup, churn in zip(signups, churns, strict=True):
        if (signup is not None and signup >= start) or (churn is not None and churn < start):
            continue
        active += 1
        if churn is not None and churn <= as_of:
            churned += 1
    return churned / active if active else None


def gross_margin(price: float, cogs: float | None) -> float | None:
    if cogs is None or price <= 0:
        return None
    return (price - cogs) / price


def shares(values: dict[str, float]) -> dict[str, float]:
    total = sum(values.values())
    return {k: (v / total if total > 0 else 0.0) for k, v in values.items()}


def conversion(plans_of_recent_signups: Sequence[str | None], plan_id: str) -> float | None:
    if not plans_of_recent_signups:
        return None
    return sum(1 for p in plans_of_recent_signups if p == plan_id) / len(plans_of_recent_signups)


def engagement(active: int, customers: int) -> float | None:
    return active / customers if customers else None
