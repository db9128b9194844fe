"""What a report holds: the figures the service gathered from the analytics and the sections'
text, and the number formats the PDF and the section templates share. Pure and light (no
matplotlib or reportlab): the API imports it, only the job that draws a report imports render.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime


@dataclass(frozen=True)
class SectionText:
    name: str
    text: str
    narrator: str = "template"  # "template" | "llm"
    note: str | None = None


@dataclass(frozen=True)
class ForecastMonth:
    month: date
    mean: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float


@dataclass(frozen=True)
class FanChart:
    title: str
    history: list[tuple[date, float]]
    forecast: list[ForecastMonth]
    note: str = ""


@dataclass(frozen=True)
class AttributionRow:
    plan: str
    segment: str
    revenue: float
    percentage: float
    users: int | None
    avg_revenue: float | None


@dataclass(frozen=True)
class PerformanceRow:
    product: str
    plan: str
    efficiency: float
    value_gap: float | None
    revenue_12m: float
    potential: float


@dataclass(frozen=True)
class RecommendationRow:
    segment: str
    plan: str
    currency: str
    current_price: float
    recommended_price: float
    elasticity: float | None
    revenue_uplift_pct: float | None
    margin_uplift_pct: float | None
    confidence_pct: float | None


@dataclass(frozen=True)
class GapRow:
    plan: str
    summary: str
    diagnosed_on: date


@dataclass(frozen=True)
class ReportData:
    name: str
    product: str
    start: date | None
    end: date | None
    generated_at: datetime
    sections: list[SectionText] = field(default_factory=list)
    charts: list[FanChart] = field(default_factory=list)
    attribution: list[AttributionRow] = field(default_factory=list)
    total_revenue: float = 0.0
    performance: list[PerformanceRow] = field(default_factory=list)
    recommendations: list[RecommendationRow] = field(default_factory=list)
    gaps: list[GapRow] = field(default_factory=list)


# Number formats: the tests and the section templates use the same ones.

def money(v: float) -> str:
    return f"{v:,.2f}"


def price(v: float) -> str:
    return f"{v:.2f}"


def pct(v: float | None, signed: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.1f}%" if signed else f"{v:.1f}%"


def period(start: date | None, end: date | None) -> str:
    if start is None and end is None:
        return "all data"
    return f"{start.isoformat() if start else 'first data'} to {end.isoformat() if end else 'latest data'}"
