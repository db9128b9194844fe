"""The calibration trend: within-20% per month, by the rule the summary uses, and its chart."""

from __future__ import annotations

from datetime import datetime

from pricewise.console.service import monthly_within_20, trend_chart
from pricewise.estimation.models import Feedback


def outcome(month: int, actual: float, p50: float = 100.0) -> Feedback:
    return Feedback(estimation_id="e", feedback_type="contractor", actual_cost=actual, variance_cost_pct=0.0,
                    submitted_by="x", submitted_at=datetime(2026, month, 15), estimate_cost_p50=p50)


def test_within_20_by_month_uses_the_summary_rule():
    rows = [outcome(9, 110), outcome(9, 130), outcome(11, 100), outcome(11, 84), outcome(11, 83),
            outcome(10, 500, p50=0.0)]  # an estimate without a P50 counts as an outcome, not as a hit or miss
    points = monthly_within_20(rows)
    assert [p.month for p in points] == ["2026-09", "2026-10", "2026-11"]
    assert [p.outcomes for p in points] == [2, 1, 3]
    # |actual - P50| / actual: 130 -> 23% (out); 100 -> 0% and 84 -> 19% (in); 83 -> 20.5% (out)
    assert [p.within_20_pct for p in points] == [0.5, None, 0.67]


def test_chart_places_points_left_to_right_and_by_value():
    points = monthly_within_20([outcome(9, 100), outcome(10, 100), outcome(10, 200), outcome(11, 200)])
    chart = trend_chart(points)
    xs, ys = [p.x for p in chart.points], [p.y for p in chart.points]
    assert xs == sorted(xs) and xs[0] == chart.left and xs[-1] == chart.right
    assert ys[0] == chart.top and ys[2] == chart.bottom  # 100% at the top, 0% at the bottom
    assert ys[1] == (chart.top + chart.bottom) / 2
    assert chart.polyline.count(",") == 3
    single = trend_chart(monthly_within_20([outcome(9, 100)]))
    assert chart.left < single.points[0].x < single.right
