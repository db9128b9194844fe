"""Products, segments, plans, links, canvas and search through HTTP, as the client uses them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from pricewise.accounts.models import AuditLog
from pricewise.catalog.models import PriceChange, SegmentPlanLink


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


async def _mk(client, path, body, status=200):
    r = await client.post(path, json=body)
    assert r.status_code == status, r.text
    return r.json()


async def test_product_lifecycle_archive_and_restore(local):
    p = await _mk(local, "/product/create", {
        "name": "Advanced Analytics Platform", "icp_description": "Enterprise data teams",
        "competitors": [{"competitor_name": "Competitor A", "website_url": "https://competitor-a.com",
                         "product_description": "Similar analytics platform"}],
        "product_documentations": ["https://docs.example.com/api"], "category": "analytics",
        "pricing_objective": "maximize revenue"})
    assert len(p["_id"]) == 24 and p["competitors"][0]["competitor_name"] == "Competitor A"
    upd = await local.put("/product/update", json={"id": p["_id"], "features_description_summary": "Dashboards"})
    assert upd.status_code == 200 and upd.json()["features_description_summary"] == "Dashboards"
    assert upd.json()["name"] == "Advanced Analytics Platform"  # partial update keeps the rest
    d = await local.request("DELETE", "/product/delete", json={"id": p["_id"]})
    assert d.json() == {"success": True}
    assert [x["_id"] for x in (await local.get("/product/list")).json()] == []
    listall = (await local.get("/product/listall")).json()
    assert listall[0]["_id"] == p["_id"] and listall[0]["archived"] is True
    r = await local.post("/product/restore", json={"id": p["_id"]})
    assert r.status_code == 200 and r.json()["archived"] is False
    assert len((await local.get("/product/list")).json()) == 1
    bad = await local.post("/product/create", json={"name": "X", "competitors": [
        {"competitor_name": "C", "website_url": "ftp://x.example", "product_description": ""}]})
    assert bad.status_code == 422 and "competitors.0.website_url" in bad.text


async def test_segments_plans_links_and_canvas(local):
    prod = await _mk(local, "/product/create", {"name": "Analytics"})
    seg = await _mk(local, "/customer-segment/create", {
        "customer_segment_name": "High-Value Enterprise Users", "customer_segment_uid": "HV_ENT_001",
        "customer_segment_description": "Large enterprises with high usage", "product": prod["_id"]})
    dup = await local.post("/customer-segment/create", json={
        "customer_segment_name": "Other", "customer_segment_uid": "HV_ENT_001", "product": prod["_id"]})
    assert dup.status_code == 409 and "customer_segment_uid" in dup.text
    plan = await _mk(local, "/pricing-plan/create", {
        "plan_name": "Premium Plan", "unit_price": 89.99, "min_unit_count": 1,
        "unit_calculation_logic": "per user per month", "min_unit_utilization_period": "monthly"})
    assert plan["unit_price"] == 89.99 and plan["currency"] == "USD"
    assert (await local.post("/pricing-plan/create", json={"plan_name": "Neg", "unit_price": -1})).status_code == 422
    # a price change is recorded in the history
    await local.put("/pricing-plan/update", json={"id": plan["_id"], "unit_price": 99.0})
    hist = (await local.get("/pricing-plan/price-history", params={"id": plan["_id"]})).json()
    assert [h["unit_price"] for h in hist] == [89.99, 99.0]

    link = await _mk(local, "/customer-segment/pricing-plan/link/create", {
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "finalized"})
    assert link["connection_type"] == "finalized" and link["is_active"] is True
    plan2 = await _mk(local, "/pricing-plan/create", {"plan_name": "Trial", "unit_price": 0})
    exp = await _mk(local, "/customer-segment/pricing-plan/link/create", {
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan2["_id"], "connection_type": "experimental",
        "percentage": 60})
    dup = await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"], "connection_type": "experimental"})
    assert dup.status_code == 409 and "already linked" in dup.text
    plan3 = await _mk(local, "/pricing-plan/create", {"plan_name": "Team", "unit_price": 20})
    over = await local.post("/customer-segment/pricing-plan/link/create", json={
        "customer_segment_id": seg["_id"], "pricing_plan_id": plan3["_id"], "connection_type": "experimental",
        "percentage": 50})
    assert over.status_code == 422 and "100" in over.json()["error"]["message"]
    upd = await local.put("/customer-segment/pricing-plan/link/update", json={"id": exp["_id"], "percentage": 40})
    assert upd.status_code == 200 and upd.json()["percentage"] == 40
    links = (await local.get("/customer-segment/pricing-plan/link/listall")).json()
    assert {x["pricing_plan"]["plan_name"] for x in links} == {"Premium Plan", "Trial"}
    assert all(x["customer_segment"]["_id"] == seg["_id"] for x in links)

    canvas = (await local.get("/api/canvas/data")).json()
    ids = {n["data"]["id"] for n in canvas["nodes"]}
    assert {f"cs-{seg['_id']}", f"pp-{plan['_id']}", f"pp-{plan2['_id']}"} <= ids
    edge = next(e for e in canvas["edges"] if e["data"]["id"] == exp["_id"])
    assert edge["data"]["percentage"] == "40%" and edge["data"]["connectionType"] == "experimental"
    moved = await local.put("/api/canvas/positions", json={"positions": [
        {"id": f"cs-{seg['_id']}", "x": 5.5, "y": 7}]})
    assert moved.status_code == 200
    node = next(n for n in (await local.get("/api/canvas/data")).json()["nodes"]
                if n["data"]["id"] == f"cs-{seg['_id']}")
    assert node["position"] == {"x": 5.5, "y": 7}

    # deleting the segment archives its links
    assert (await local.request("DELETE", "/customer-segment/delete", json={"id": seg["_id"]})).json() == {
        "success": True}
    assert (await local.get("/customer-segment/pricing-plan/link/listall")).json() == []
    async with local.app.state.ctx.db.session() as s:
        archived = (await s.execute(select(SegmentPlanLink))).scalars().all()
        assert len(archived) == 2 and all(x.deleted_at is not None for x in archived)
        assert (await s.execute(select(func.count()).select_from(PriceChange))).scalar_one() == 4
        actions = {r.action for r in (await s.execute(select(AuditLog).where(
            AuditLog.entity_type == "SegmentPlanLink"))).scalars()}
        assert {"create", "update", "delete"} <= actions


async def test_search_ranks_text_and_meaning(local):
    await _mk(local, "/customer-segment/create", {
        "customer_segment_name": "Enterprise accounts", "customer_segment_uid": "ENT",
        "customer_segment_description": "Large companies with procurement and SSO needs"})
    await _mk(local, "/customer-segment/create", {
        "customer_segment_name": "Hobbyists", "customer_segment_uid": "HOB",
        "customer_segment_description": "Individuals building side projects"})
    await _mk(local, "/pricing-plan/create", {"plan_name": "Enterprise Plan", "unit_price": 499,
                                              "unit_calculation_logic": "per seat per month"})
    r = await local.post("/search", json={"query": "enterprise pricing"})
    body = r.json()
    assert r.status_code == 200 and body["query"] == "enterprise pricing"
    assert body["total_count"] == len(body["results"]) >= 2
    top = [x["title"] for x in body["results"][:2]]
    assert set(top) == {"Enterprise accounts", "Enterprise Plan"}
    assert all(set(x) == {"type", "id", "title", "description", "score"} for x in body["results"])
    # meaning without shared words: "big corporations" finds the enterprise segment first
    sem = (await local.post("/search", json={"query": "big corporations"})).json()["results"]
    assert sem and sem[0]["title"] == "Enterprise accounts"
    assert (await local.post("/search", json={"query": ""})).json()["results"] == []
    one = await local.post("/search", json={"query": "h"})
    assert one.status_code == 200 and one.json()["results"][0]["title"] == "Hobbyists"
    long = await local.post("/search", json={"query": ("enterprise " * 100)[:1000]})
    assert long.status_code == 200
    assert (await local.post("/search", json={"query": "x" * 1001})).status_code == 422
