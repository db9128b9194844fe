"""A synthetic market with a known price response, loaded through the API as a user would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np


def months_back(n: int, today: date | None = None) -> list[date]:
    """n month starts ending with last month."""
    today = today or date.today()
    y, m = today.year, today.month
    out = []
    for _ in range(n):
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        out.append(date(y, m, 1))
    return out[::-1]


def demand(elasticity: float, prices: np.ndarray, seed: int = 3, level: float = 9.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(prices.size)
    season = 0.08 * np.sin(2 * np.pi * t / 12)
    return np.exp(level + elasticity * np.log(prices) + 0.01 * t + season + rng.normal(0, 0.03, prices.size))


@dataclass
class Market:
    product: str
    segment: str
    plan: str
    months: list[date]
    prices: list[float]
    subscriptions: list[float]


def _iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def make_market(client: Any, *, elasticity: float = -1.5, prices: list[float] | None = None,
                      cogs: float | None = 20.0, plan_name: str = "Pro", segment_uid: str = "SMB",
                      product: str | None = None, seed: int = 3) -> Market:
    prices = prices or [40.0] * 12 + [46.0] * 12 + [36.0] * 12
    months = months_back(len(prices))
    q = [float(round(v)) for v in demand(elasticity, np.asarray(prices), seed)]
    if product is None:
        r = await client.post("/product/create", json={"name": "Analytics"})
        assert r.status_code == 200, r.text
        product = r.json()["_id"]
    seg = await client.post("/customer-segment/create", json={
        "product": product, "customer_segment_name": f"Segment {segment_uid}".replace("0", "O"),
        "customer_segment_uid": segment_uid})
    assert seg.status_code == 200, seg.text
    body: dict[str, Any] = {"product": product, "plan_name": plan_name, "unit_price": prices[-1]}
    if cogs is not None:
        body["cogs_per_unit"] = cogs
    plan = await client.post("/pricing-plan/create", json=body)
    assert plan.status_code == 200, plan.text
    pid = plan.json()["_id"]
    for i, p in enumerate(prices):
        if i == 0 or p != prices[i - 1]:
            r = await client.post("/pricing-plan/price-history", json={"id": pid, "unit_price": p,
                                                                       "effective_at": _iso(months[i])})
            assert r.status_code == 200, r.text
    r = await client.post("/api/analytics/segment-contribution", json={
        "product": product, "customer_segment": seg.json()["_id"], "pricing_plan": pid,
        "active_subscriptions": [{"date": _iso(m), "value": v} for m, v in zip(months, q, strict=True)],
        "revenue_ts_data": [{"date": _iso(m), "value": v * p} for m, v, p in zip(months, q, prices, strict=True)]})
    assert r.status_code == 200, r.text
    return Market(product, seg.json()["_id"], pid, months, prices, q)
