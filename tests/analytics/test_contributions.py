"""Segment contribution data: validated, stored as rows, upserted by date, published."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from pricewise.analytics.models import SeriesPoint
from pricewise.analytics.series import to_monthly


@pytest.fixture
async def ws(make_client):
    client = await make_client(auth_mode="local")
    seg = (await client.post("/customer-segment/create", json={"customer_segment_name": "SMB",
                                                               "customer_segment_uid": "SMB"})).json()
    plan = (await client.post("/pricing-plan/create", json={"plan_name": "Pro", "unit_price": 50})).json()
    return client, seg["_id"], plan["_id"]


async def test_post_then_upsert_by_date(ws):
    client, seg, plan = ws
    bus = client.app.state.ctx.events
    sub = bus.subscribe(client.app.state.ctx.local_principal.tenant_id)
    body = {"customer_segment": seg, "pricing_plan": plan,
            "revenue_ts_data": [{"date": "2024-01-01T00:00:00Z", "value": 15000},
                                {"date": "2024-02-01T00:00:00Z", "value": 18000}],
            "active_subscriptions": [{"date": "2024-01-01T00:00:00Z", "value": 150},
                                     {"date": "2024-02-01T00:00:00Z", "value": 180}]}
    r = await client.post("/api/analytics/segment-contribution", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["customer_segment"] == seg and out["pricing_plan"] == plan
    assert [p["value"] for p in out["revenue_ts_data"]] == [15000, 18000]
    assert out["revenue_ts_data"][0]["date"] == "2024-01-01T00:00:00Z"
    assert out["revenue_forecast_ts_data"] == [] and out["active_subscriptions_forecast"] == []
    event = await sub.get(1.0)
    assert event is not None and event.type == "revenue_data_updated" and event.data["points"] == 4
    # the same date again replaces the value; a new date is added
    again = await client.post("/api/analytics/segment-contribution", json={
        "customer_segment": seg, "pricing_plan": plan,
        "revenue_ts_data": [{"date": "2024-02-01", "value": 19000}, {"date": "2024-03-01", "value": 20000}]})
    assert again.json()["_id"] == out["_id"]
    assert [p["value"] for p in again.json()["revenue_ts_data"]] == [15000, 19000, 20000]
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SeriesPoint))).scalar_one() == 5
    listed = (await client.get("/api/analytics/segment-contribution", params={"segment_id": seg})).json()
    assert len(listed) == 1 and len(listed[0]["active_subscriptions"]) == 2


@pytest.mark.parametrize(("points", "metric", "needle"), [
    ([{"date": "2024-01-01", "value": float("nan")}], "revenue_ts_data", "finite"),
    ([{"date": "2024-01-01", "value": -3}], "active_subscriptions", "negative"),
    ([{"date": "2024-01-01", "value": 1}, {"date": "2024-01-01T00:00:00Z", "value": 2}], "revenue_ts_data",
     "repeats"),
    ([{"date": "2999-01-01", "value": 1}], "revenue_ts_data", "future"),
    ([{"date": "not a date", "value": 1}], "revenue_ts_data", "date"),
    ([{"date": "2024-01-01", "value": "12"}], "revenue_ts_data", "value"),
])
async def test_bad_series_refused_and_nothing_written(ws, points, metric, needle):
    client, seg, plan = ws
    payload = {"customer_segment": seg, "pricing_plan": plan, metric: points}
    # NaN is not valid JSON: send it the way a careless client would, as a bare token
    import json

    raw = json.dumps(payload)  # NaN goes out as the bare token json.dumps writes
    r = await client.post("/api/analytics/segment-contribution", content=raw,
                          headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422), r.text
    assert needle in r.text and metric in r.text
    async with client.app.state.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(SeriesPoint))).scalar_one() == 0


async def test_unknown_ids_are_404(ws):
    client, seg, _ = ws
    r = await client.post("/api/analytics/segment-contribution", json={
        "customer_segment": seg, "pricing_plan": "0" * 24, "revenue_ts_data": []})
    assert r.status_code == 404


def test_monthly_resampling_rules():
    pts = [(date(2024, 1, 5), 10.0), (date(2024, 1, 20), 5.0), (date(2024, 4, 1), 40.0)]
    rev = to_monthly(pts, "revenue")
    assert rev.values == [15.0, pytest.approx(23.3333, rel=1e-3), pytest.approx(31.6667, rel=1e-3), 40.0]
    assert rev.filled == [date(2024, 2, 1), date(2024, 3, 1)]
    subs = to_monthly(pts, "subscriptions")
    assert subs.values[0] == 5.0  # a stock takes the month's last observation
