"""Segment and plan modals: computed from stored series, null where there is no data."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import insert

from pricewise.analytics.models import Contribution, SeriesPoint


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


async def _setup(local):
    seg = (await local.post("/customer-segment/create", json={
        "customer_segment_name": "SMB", "customer_segment_uid": "SMB"})).json()
    a = (await local.post("/pricing-plan/create", json={"plan_name": "Growth", "unit_price": 50,
                                                        "cogs_per_unit": 10})).json()
    b = (await local.post("/pricing-plan/create", json={"plan_name": "Growth+", "unit_price": 60})).json()
    await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": a["_id"], "connection_type": "finalized"})
    await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": b["_id"], "connection_type": "experimental",
        "percentage": 20})
    return seg, a, b


async def test_modal_without_data_is_present_and_null(local):
    seg, a, b = await _setup(local)
    r = await local.get(f"/api/customer-segments/{seg['_id']}")
    assert r.status_code == 200
    m = r.json()["modal"]
    assert m["name"] == "SMB" and m["totalUsers"] is None
    assert m["growthData"] == {"userGrowth": None, "usageGrowth": None, "revenueGrowth": None}
    assert m["abTest"]["planA"]["name"] == "Growth" and m["abTest"]["planA"]["percentage"] == 80
    assert m["abTest"]["planB"]["name"] == "Growth+" and m["abTest"]["planB"]["users"] is None
    assert m["metrics"] == {"avgRevenue": None, "engagementScore": None, "churnRate": None}
    p = (await local.get(f"/api/pricing-models/{a['_id']}")).json()
    assert p["segmentRevenueContribution"] == [] and p["gross_margin"] == "80.0%"
    pb = (await local.get(f"/api/pricing-models/{b['_id']}")).json()
    assert pb["experiments"][0]["rollout"] == "20%" and pb["experiments"][0]["grossMargin"] is None
    assert (await local.get("/api/customer-segments/0123456789abcdef01234567")).status_code == 404


async def test_modal_growth_from_series(local):
    seg, a, _ = await _setup(local)
    ctx = local.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    async with ctx.db.session() as s:
        c = Contribution(id="aaaaaaaaaaaaaaaaaaaaaaaa", tenant_id=tenant, segment_id=seg["_id"], plan_id=a["_id"])
        s.add(c)
        await s.flush()
        rows = []
        for i, (rev, subs) in enumerate([(100, 10), (100, 10), (100, 10), (110, 11), (120, 12), (130, 13)]):
            d = date(2026, 1 + i, 1)
            rows += [{"tenant_id": tenant, "contribution_id": c.id, "metric": "revenue", "date": d, "value": rev},
                     {"tenant_id": tenant, "contribution_id": c.id, "metric": "subscriptions", "date": d,
                      "value": subs}]
        await s.execute(insert(SeriesPoint), rows)
        await s.commit()
    m = (await local.get(f"/api/customer-segments/{seg['_id']}")).json()["modal"]
    assert m["totalUsers"] == 13
    assert m["growthData"]["revenueGrowth"] == "+20.0%"  # (110+120+130)/(300) - 1
    assert m["metrics"]["avgRevenue"] == "$10.00"
    assert m["abTest"]["planA"]["users"] == 13 and m["abTest"]["planA"]["weightage"] == "100.0%"
    p = (await local.get(f"/api/pricing-models/{a['_id']}")).json()
    assert p["segmentRevenueContribution"][0]["segment"] == "SMB"
    contrib = p["segmentRevenueContribution"][0]
    assert contrib["revenue"] == 660 and contrib["percentage"] == 100


async def test_conversion_and_engagement_from_customers_and_usage(local):
    from datetime import timedelta

    from pricewise.analytics.models import Customer, UsageRecord
    from pricewise.core.base import utcnow

    seg, a, b = await _setup(local)
    ctx = local.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    today = utcnow().date()
    async with ctx.db.session() as s:
        # recent sign-ups: 3 on Growth, 1 on Growth+; one old customer on Growth+ does not count
        for i, (plan, days) in enumerate([(a, 10), (a, 20), (a, 30), (b, 40), (b, 400)]):
            s.add(Customer(id=f"{i:024x}", tenant_id=tenant, customer_uid=f"c{i}", segment_id=seg["_id"],
                           plan_id=plan["_id"], signup_date=today - timedelta(days=days), attributes={}))
        await s.flush()
        # two of the five used the product in the last 30 days, one only 60 days ago
        s.add_all([UsageRecord(tenant_id=tenant, customer_uid=uid, date=today - timedelta(days=d), metric="api",
                               quantity=5) for uid, d in (("c0", 2), ("c3", 12), ("c4", 60))])
        await s.commit()
    m = (await local.get(f"/api/customer-segments/{seg['_id']}")).json()["modal"]
    assert m["abTest"]["planA"]["conversionRate"] == "75.0%" and m["abTest"]["planB"]["conversionRate"] == "25.0%"
    assert m["metrics"]["engagementScore"] == "40.0%"
    pb = (await local.get(f"/api/pricing-models/{b['_id']}")).json()
    assert pb["experiments"][0]["conversion"] == "25.0%"
