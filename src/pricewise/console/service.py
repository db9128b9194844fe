"""What the console pages show, read through the same services as the API. The only figures
computed here are the per-month series of the calibration trend and the chart's geometry; the
dashboard's headline and per-class figures are feedback_service.summary's, as GET /feedback/summary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pricewise.core.tenancy import Scope
from pricewise.estimation import feedback_service, service
from pricewise.estimation.calibration import variance_pct
from pricewise.estimation.models import Estimation, Feedback


@dataclass(frozen=True)
class MonthPoint:
    month: str  # YYYY-MM, of the outcome's submission
    outcomes: int
    within_20_pct: float | None  # share of outcomes whose actual cost was within 20% of the P50


def monthly_within_20(rows: Sequence[Feedback]) -> list[MonthPoint]:
    """Within-20% by month over the outcomes summary() counts (one per estimate), with its rule:
    |actual - P50| / actual <= 20%, among outcomes whose estimate had a P50."""
    months: dict[str, list[Feedback]] = {}
    for f in rows:
        months.setdefault(f.submitted_at.strftime("%Y-%m"), []).append(f)
    points = []
    for month in sorted(months):
        hits = [variance_pct(f.actual_cost, f.estimate_cost_p50) <= 20 for f in months[month] if f.estimate_cost_p50]
        points.append(MonthPoint(month, len(months[month]), round(sum(hits) / len(hits), 2) if hits else None))
    return points


@dataclass(frozen=True)
class ChartPoint:
    month: str
    value: float
    outcomes: int
    x: float
    y: float


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: int
    right: int  # x where the plot ends
    top: int
    bottom: int
    points: list[ChartPoint]
    gridlines: list[tuple[float, str]]  # (y, label)

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def trend_chart(points: Sequence[MonthPoint], width: int = 640, height: int = 220) -> Chart:
    """Pixel positions for an inline SVG line chart of within-20% (0..100%) by month."""
    left, right, top, bottom = 44, 40, 12, 28  # room for axis labels
    plot_w, plot_h = width - left - right, height - top - bottom
    shown = [p for p in points if p.within_20_pct is not None]
    step = plot_w / max(len(shown) - 1, 1)
    out = [ChartPoint(p.month, float(p.within_20_pct or 0.0), p.outcomes,
                      left + (i * step if len(shown) > 1 else plot_w / 2),
                      top + plot_h * (1 - float(p.within_20_pct or 0.0)))
           for i, p in enumerate(shown)]
    grid = [(top + plot_h * (1 - v), f"{round(v * 100)}%") for v in (0.0, 0.25, 0.5, 0.75, 1.0)]
    return Chart(width, height, left, width - right, top, height - bottom, out, grid)


async def calibration(scope: Scope) -> dict[str, Any]:
    summary = await feedback_service.summary(scope)
    months = monthly_within_20(await feedback_service.outcomes(scope))
    return {"summary": summary, "months": months, "chart": trend_chart(months)}


async def estimate_detail(scope: Scope, ref: str) -> dict[str, Any]:
    """One estimate of this tenant (by _id or session_id; another tenant's is not found), its
    versions oldest first with the current one last, and its feedback."""
    row = await service.find(scope, ref)
    out = service.estimate_out(row, await service.versions(scope, row))
    feedback = [feedback_service.feedback_out(f) for f in await scope.list(
        Feedback, Feedback.estimation_id == row.id, order_by=Feedback.submitted_at)]
    return {"estimate": out, "row": row, "feedback": feedback}


async def recent_estimates(scope: Scope, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = await scope.list(Estimation, order_by=Estimation.created_at.desc(), limit=limit, offset=offset)
    return [service.estimate_out(r) for r in rows], await scope.count(Estimation)
