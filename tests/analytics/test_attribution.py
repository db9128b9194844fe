"""Revenue attribution in the dashboard's shape, over time ranges."""

from __future__ import annotations

from datetime import date

import pytest

from pricewise.analytics.attribution import resolve_range


@pytest.fixture
async def ws(make_client):
    client = await make_client(auth_mode="local")
    segs = [(await client.post("/customer-segment/create", json={
        "customer_segment_name": n, "customer_segment_uid": n})).json()["_id"] for n in ("Enterprise", "SMB")]
    plans = [(await client.post("/pricing-plan/create", json={"plan_name": n, "unit_price": 10})).json()["_id"]
             for n in ("Premium", "Basic")]
    months = [f"2025-{m:02d}-01" for m in range(1, 13)]
    for seg, plan, base, users in ((segs[0], plans[0], 200_000, 100), (segs[1], plans[1], 100_000, 400)):
        r = await client.post("/api/analytics/segment-contribution", json={
            "customer_segment": seg, "pricing_plan": plan,
            "revenue_ts_data": [{"date": d, "value": base + i * 1000} for i, d in enumerate(months)],
            "active_subscriptions": [{"date": d, "value": users + i} for i, d in enumerate(months)]})
        assert r.status_code == 200, r.text
    return client


async def test_attribution_shape_and_numbers(ws):
    r = await ws.get("/api/analytics/revenue-attribution", params={"timeRange": "3m"})
    assert r.status_code == 200, r.text
    body = r.json()
    ent = next(i for i in body["items"] if i["segment"] == "Enterprise")
    assert ent["plan"] == "Premium" and ent["revenue"] == 200_000 * 3 + (9 + 10 + 11) * 1000
    assert ent["users"] == 111 and ent["avgRevenue"] == round(ent["revenue"] / 111, 2)
    smb = next(i for i in body["items"] if i["segment"] == "SMB")
    assert body["totalRevenue"] == ent["revenue"] + smb["revenue"]
    assert ent["percentage"] == round(ent["revenue"] / body["totalRevenue"] * 100, 1)
    assert [p["month"] for p in body["timeSeries"]] == ["Oct", "Nov", "Dec"]
    dec = body["timeSeries"][-1]
    assert dec["Premium"] == dec["Enterprise"] == pytest.approx(0.211)
    assert dec["totalRevenue"] == pytest.approx(0.211 + 0.111)
    year = (await ws.get("/api/analytics/revenue-attribution", params={"timeRange": "all"})).json()
    assert len(year["timeSeries"]) == 12
    explicit = (await ws.get("/api/analytics/revenue-attribution",
                             params={"start": "2025-02-10", "end": "2025-03-31"})).json()
    assert [p["date"] for p in explicit["timeSeries"]] == ["2025-02-01", "2025-03-01"]


async def test_attribution_bad_and_empty_ranges(ws):
    assert (await ws.get("/api/analytics/revenue-attribution", params={"timeRange": "2w"})).status_code == 422
    bad = await ws.get("/api/analytics/revenue-attribution", params={"start": "2025-05-01", "end": "2025-01-01"})
    assert bad.status_code == 422 and "start" in bad.text
    empty = (await ws.get("/api/analytics/revenue-attribution",
                          params={"start": "2020-01-01", "end": "2020-12-31"})).json()
    assert empty["items"] == [] and empty["totalRevenue"] == 0 and empty["timeSeries"] == []
    none = (await ws.get("/api/analytics/revenue-attribution", params={"product_id": "0" * 24})).json()
    assert none == {"items": [], "totalRevenue": 0.0, "timeSeries": [], "range": None}


def test_resolve_range_rules():
    latest = date(2025, 12, 15)
    assert resolve_range("3m", latest) == (date(2025, 10, 1), date(2025, 12, 1))
    assert resolve_range("ytd", latest) == (date(2025, 1, 1), date(2025, 12, 1))
    assert resolve_range("12m", latest) == (date(2025, 1, 1), date(2025, 12, 1))
    assert resolve_range(None, None) is None


async def test_attribution_users_are_the_last_observation_of_the_last_month_with_revenue(ws):
    seg = (await ws.post("/customer-segment/create", json={
        "customer_segment_name": "Startup", "customer_segment_uid": "startup"})).json()["_id"]
    plan = (await ws.post("/pricing-plan/create", json={"plan_name": "Team", "unit_price": 5})).json()["_id"]
    # Subscriptions are counted a month ahead of the revenue: July has no revenue yet.
    r = await ws.post("/api/analytics/segment-contribution", json={
        "customer_segment": seg, "pricing_plan": plan,
        "revenue_ts_data": [{"date": f"2025-{m:02d}-28", "value": 1000} for m in range(1, 7)],
        "active_subscriptions": [{"date": "2025-05-31", "value": 40}, {"date": "2025-06-10", "value": 50},
                                 {"date": "2025-06-28", "value": 55}, {"date": "2025-07-15", "value": 70}]})
    assert r.status_code == 200, r.text
    body = (await ws.get("/api/analytics/revenue-attribution", params={"timeRange": "all"})).json()
    item = next(i for i in body["items"] if i["segment"] == "Startup")
    assert item["revenue"] == 6000 and item["users"] == 55 and item["avgRevenue"] == round(6000 / 55, 2)
    # Within a range the users are those of its last month with data.
    spring = (await ws.get("/api/analytics/revenue-attribution",
                           params={"start": "2025-01-01", "end": "2025-05-31"})).json()
    assert next(i for i in spring["items"] if i["segment"] == "Startup")["users"] == 40


async def test_attribution_of_a_product_counts_only_its_own_subscriptions(ws):
    seg = (await ws.post("/customer-segment/create", json={
        "customer_segment_name": "Agency", "customer_segment_uid": "agency"})).json()["_id"]
    plan = (await ws.post("/pricing-plan/create", json={"plan_name": "Studio", "unit_price": 5})).json()["_id"]
    products = [(await ws.post("/product/create", json={"name": n})).json()["_id"] for n in ("Web", "Mobile")]
    for product, users in zip(products, (10, 99), strict=True):
        r = await ws.post("/api/analytics/segment-contribution", json={
            "product": product, "customer_segment": seg, "pricing_plan": plan,
            "revenue_ts_data": [{"date": "2025-03-01", "value": 500}],
            "active_subscriptions": [{"date": f"2025-03-{15 if users == 10 else 20}", "value": users}]})
        assert r.status_code == 200, r.text
    web = (await ws.get("/api/analytics/revenue-attribution", params={"product_id": products[0]})).json()
    assert [(i["segment"], i["revenue"], i["users"]) for i in web["items"]] == [("Agency", 500, 10)]
    both = (await ws.get("/api/analytics/revenue-attribution", params={"timeRange": "all"})).json()
    assert next(i for i in both["items"] if i["segment"] == "Agency")["users"] == 99  # the pair's last observation
