"""Revenue attribution by plan and segment over a time range. Pure: no web, no database.

- The range is resolved against the latest month that has revenue data (so "3m" means the three
  most recent months of data): 3m, 6m, 12m, ytd (January of that month's year onwards), all, or
  an explicit start/end (inclusive months).
- items: one per segment x plan pair with revenue in the range; revenue is the sum, users the
  pair's subscriptions in the range's last month with data, avgRevenue = revenue / users,
  percentage = revenue / total * 100 (one decimal).
- timeSeries: one entry per month; each plan's and each segment's revenue and the total, in
  millions (as the dashboard plots them), rounded to 4 decimals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

RANGES = ("3m", "6m", "12m", "ytd", "all")
MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def add_months(d: date, n: int) -> date:
    idx = d.year * 12 + d.month - 1 + n
    return date(idx // 12, idx % 12 + 1, 1)


def month_of(d: date) -> date:
    return date(d.year, d.month, 1)


def resolve_range(time_range: str | None, latest: date | None, start: date | None = None,
                  end: date | None = None) -> tuple[date, date] | None:
    """(first month, last month) inclusive, or None when there is no data to resolve against."""
    if start or end:
        last_src = end or latest
        if last_src is None:
            return None
        first, last = month_of(start) if start else date(1, 1, 1), month_of(last_src)
        if first > last:
            raise ValueError("start is after end")
        return first, last
    if latest is None:
        return None
    last = month_of(latest)
    tr = time_range or "12m"
    if tr == "all":
        return date(1, 1, 1), last
    if tr == "ytd":
        return date(last.year, 1, 1), last
    return add_months(last, -(int(tr.removesuffix("m")) - 1)), last


@dataclass(frozen=True)
class Row:
    segment: str
    plan: str
    month: date
    revenue: float
    users: float | None


def attribute(rows: Iterable[Row]) -> dict[str, Any]:
    rev: dict[tuple[str, str], float] = defaultdict(float)
    users_at: dict[tuple[str, str], tuple[date, float]] = {}
    by_month: dict[date, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for r in rows:
        key = (r.segment, r.plan)
        rev[key] += r.revenue
        if r.users is not None and (key not in users_at or r.month >= users_at[key][0]):
            users_at[key] = (r.month, r.users)
        m = by_month[r.month]
        m[f"plan:{r.plan}"] += r.revenue
        m[f"segment:{r.segment}"] += r.revenue
        m["total"] += r.revenue
    total = sum(rev.values())
    items: list[dict[str, Any]] = []
    for (segment, plan), revenue in sorted(rev.items(), key=lambda kv: -kv[1]):
        users = users_at[(segment, plan)][1] if (segment, plan) in users_at else None
        items.append({"plan": plan, "segment": segment, "revenue": round(revenue, 2),
                      "percentage": round(revenue / total * 100, 1) if total else 0.0,
                      "users": int(users) if users is not None else None,
                      "avgRevenue": round(revenue / users, 2) if users else None})
    series: list[dict[str, Any]] = []
    for month in sorted(by_month):
        entry: dict[str, Any] = {"month": MONTH_ABBR[month.month - 1], "date": month.isoformat()}
        for label, value in by_month[month].items():
            if label == "total":
                continue
            name = label.split(":", 1)[1]
            entry[name] = round(entry.get(name, 0.0) + value / 1e6, 4)
        entry["totalRevenue"] = round(by_month[month]["total"] / 1e6, 4)
        series.append(entry)
    return {"items": items, "totalRevenue": round(total, 2), "timeSeries": series}
