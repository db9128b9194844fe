"""Time-series checks and monthly resampling. Pure: no web, no database.

Rules (docs/analytics.md):
- A point needs a finite value of magnitude at most 1e15; subscriptions are counts (>= 0); no
  two points of one series may share a date; dates after today (UTC) are refused.
- Monthly resampling: revenue is a flow, so the points of a calendar month are summed;
  subscriptions are a stock, so a month takes its last observation. Months missing inside the
  observed range are filled by linear interpolation and reported as filled.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

FLOW_METRICS = frozenset({"revenue"})
MAX_ABS_VALUE = 1e15  # beyond any real revenue or count; keeps sums and model fits finite


@dataclass(frozen=True)
class PointError:
    index: int
    message: str


def check_points(points: Sequence[tuple[date, float]], metric: str, today: date) -> list[PointError]:
    errors: list[PointError] = []
    seen: dict[date, int] = {}
    for i, (d, v) in enumerate(points):
        if not isinstance(v, int | float) or math.isnan(v) or math.isinf(v):
            errors.append(PointError(i, "value must be a finite number"))
        elif abs(v) > MAX_ABS_VALUE:
            errors.append(PointError(i, f"value must be at most {MAX_ABS_VALUE:g} in magnitude"))
        elif metric == "subscriptions" and v < 0:
            errors.append(PointError(i, "subscriptions cannot be negative"))
        if d.year < 1900:
            errors.append(PointError(i, f"date {d.isoformat()} is before 1900"))
        if d > today:
            errors.append(PointError(i, f"date {d.isoformat()} is in the future"))
        if d in seen:
            errors.append(PointError(i, f"date {d.isoformat()} repeats item {seen[d]}"))
        seen.setdefault(d, i)
    return errors


def month_start(d: date) -> date:
    return date(d.year, d.month, 1)


def next_month(d: date) -> date:
    return date(d.year + (d.month == 12), d.month % 12 + 1, 1)


@dataclass(frozen=True)
class Monthly:
    months: list[date]
    values: list[float]
    filled: list[date]


def to_monthly(points: Sequence[tuple[date, float]], metric: str) -> Monthly:
    if not points:
        return Monthly([], [], [])
    acc: dict[date, float] = {}
    last_seen: dict[date, date] = {}
    for d, v in sorted(points):
        m = month_start(d)
        if metric in FLOW_METRICS:
            acc[m] = acc.get(m, 0.0) + float(v)
        elif d >= last_seen.get(m, d):
            acc[m], last_seen[m] = float(v), d
    months: list[date] = []
    cur, end = min(acc), max(acc)
    while cur <= end:
        months.append(cur)
        cur = next_month(cur)
    known = [i for i, m in enumerate(months) if m in acc]
    values: list[float] = []
    filled: list[date] = []
    for i, m in enumerate(months):
        if m in acc:
            values.append(acc[m])
            continue
        j = bisect.bisect_left(known, i)  # known[j - 1] < i < known[j]: both exist inside the range
        i0, i1 = known[j - 1], known[j]
        v0, v1 = acc[months[i0]], acc[months[i1]]
        values.append(v0 + (v1 - v0) * (i - i0) / (i1 - i0))
        filled.append(m)
    return Monthly(months, values, filled)
