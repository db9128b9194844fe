"""Request bodies and query values of the alert routes."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pricewise.catalog.schemas import Id, UiIn

AlertType = Literal["price_anomaly", "competitor_change", "revenue_drop", "churn_spike"]
Severity = Literal["low", "medium", "high", "critical"]
Channel = Literal["email", "in_app"]
Frequency = Literal["immediate", "hourly", "daily"]
ALL_TYPES: list[AlertType] = ["price_anomaly", "competitor_change", "revenue_drop", "churn_spike"]
ALL_CHANNELS: list[Channel] = ["email", "in_app"]


class PreferenceIn(UiIn):
    """The caller's preference for one product (or, without `product`, for all): which alert
    types, by which channels, how often. Posting again for the same product replaces it."""

    product: Id | None = None
    alert_types: list[AlertType] = Field(default_factory=lambda: list(ALL_TYPES), min_length=1, max_length=4)
    channels: list[Channel] = Field(default_factory=lambda: list(ALL_CHANNELS), min_length=1, max_length=2)
    frequency: Frequency = "immediate"
    is_active: bool = True
