"""The workspace's bad-input table: each case is a clear 4xx naming the field, and nothing is written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pricewise.catalog.models import CustomerSegment, PriceChange, PricingPlan, Product, SegmentPlanLink


@pytest.fixture
async def ws(make_client):
    client = await make_client(auth_mode="local")
    seg = (await client.post("/customer-segment/create", json={"customer_segment_name": "S",
                                                               "customer_segment_uid": "S"})).json()
    plan = (await client.post("/pricing-plan/create", json={"plan_name": "P", "unit_price": 10})).json()
    plan2 = (await client.post("/pricing-plan/create", json={"plan_name": "P2", "unit_price": 10})).json()
    await client.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "experimental",
        "percentage": 70})
    return client, seg["_id"], plan["_id"], plan2["_id"]


async def _counts(client):
    async with client.app.state.ctx.db.session() as s:
        out = {}
        for m in (Product, CustomerSegment, PricingPlan, SegmentPlanLink, PriceChange):
            out[m.__name__] = (await s.execute(select(func.count()).select_from(m))).scalar_one()
        return out


CASES = [
    ("POST", "/pricing-plan/create", {"plan_name": "X", "unit_price": "12"}, 422, "unit_price"),
    ("POST", "/pricing-plan/create", {"plan_name": "X", "unit_price": -0.01}, 422, "unit_price"),
    ("POST", "/pricing-plan/create", {"plan_name": "X", "unit_price": 1, "min_unit_count": 0}, 422,
     "min_unit_count"),
    ("POST", "/pricing-plan/create", {"unit_price": 1}, 422, "plan_name"),
    ("POST", "/pricing-plan/create", {"plan_name": "X", "unit_price": 1, "currency": "dollars"}, 422, "currency"),
    ("POST", "/customer-segment/create", {"customer_segment_name": "X"}, 422, "customer_segment_uid"),
    ("POST", "/customer-segment/create", {"customer_segment_name": 5, "customer_segment_uid": "u"}, 422,
     "customer_segment_name"),
    ("POST", "/customer-segment/create", {"customer_segment_name": "X", "customer_segment_uid": "u",
                                          "product": "0" * 24}, 404, "product"),
    ("POST", "/customer-segment/create", {"customer_segment_name": "X", "customer_segment_uid": "u",
                                          "product": "not-an-id"}, 422, "product"),
    ("POST", "/product/create", {"name": "X", "product_documentations": ["javascript:alert(1)"]}, 422,
     "product_documentations"),
    ("POST", "/product/create", {"name": "X", "competitors": [{"competitor_name": "C",
                                                                "website_url": "gopher://x"}]}, 422, "website_url"),
    ("POST", "/product/create", {"name": "X" * 201}, 422, "name"),
    ("POST", "/product/create", {"name": "X", "icp_description": "y" * 200_000}, 422, "icp_description"),
    ("POST", "/product/create", {"name": "X", "icp_description": "y" * 1_100_000}, 413, "body"),
    ("POST", "/product/create", {"name": "bad\u0000name"}, 422, "name"),
    ("PUT", "/pricing-plan/update", {"id": "0" * 24, "unit_price": 3}, 404, "pricing plan"),
    ("DELETE", "/product/delete", {"id": "0" * 24}, 404, "product"),
    ("GET", "/customer-segment/read?id=123", None, 422, "id"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "names"), CASES)
async def test_bad_input_is_refused_and_nothing_written(ws, method, path, body, status, names):
    client = ws[0]
    before = await _counts(client)
    r = await client.request(method, path, json=body)
    assert r.status_code == status, r.text
    assert names in r.text if status != 413 else r.json()["error"]["code"] == "payload_too_large"
    assert await _counts(client) == before


async def test_link_percentages(ws):
    client, seg, _, plan2 = ws
    before = await _counts(client)
    over = await client.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg, "pricing_plan_id": plan2, "connection_type": "experimental", "percentage": 31})
    assert over.status_code == 422 and "percentage" in over.text and "101" in over.text
    single = await client.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg, "pricing_plan_id": plan2, "connection_type": "experimental", "percentage": 100.5})
    assert single.status_code == 422 and "percentage" in single.text
    wrong = await client.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg, "pricing_plan_id": plan2, "connection_type": "maybe"})
    assert wrong.status_code == 422 and "connection_type" in wrong.text
    assert await _counts(client) == before
    ok = await client.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg, "pricing_plan_id": plan2, "connection_type": "experimental", "percentage": 30})
    assert ok.status_code == 200
