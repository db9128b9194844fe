"""Wire shapes of the analytics routes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from pricewise.catalog.schemas import Id, UiIn


class Point(UiIn):
    # JSON has no date type: ISO strings ("2024-01-01" or "2024-01-01T00:00:00Z") are parsed here.
    date: Annotated[datetime, Field(strict=False)]
    value: Annotated[float, Field(allow_inf_nan=True)]  # NaN reaches the service, which names it


class ContributionIn(UiIn):
    product: Id | None = None
    customer_segment: Id
    pricing_plan: Id
    revenue_ts_data: list[Point] = Field(default_factory=list, max_length=10_000)
    active_subscriptions: list[Point] = Field(default_factory=list, max_length=10_000)


class GapDiagnosisIn(UiIn):
    pricing_model: Id
    context: Annotated[str, Field(max_length=5000)] = ""


class RecommendationIn(UiIn):
    product: Id | None = None
    customer_segment: Id
    pricing_plan: Id | None = None  # default: the segment's main plan with data
    analysis_prompt: Annotated[str, Field(max_length=5000)] = ""
