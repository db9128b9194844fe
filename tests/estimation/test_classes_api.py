"""Reference classes, synthetic priors, validation against outcomes, and leads, through the API."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from sqlalchemy import func, select

from pricewise.accounts.models import Tenant
from pricewise.estimation.models import ReferenceClass
from tests.support import Mailbox, signup

CLASS = {
    "category": "construction", "subcategory": "pergola", "name": "Backyard Pergola - Cedar",
    "description": "Freestanding cedar pergola with footings", "keywords": ["pergola", "shade structure"],
    "regions": ["SoCal - Coastal"], "attributes": {"tier": "midrange"},
    "cost_distribution": {"P50": 12000, "P80": 15000, "P95": 19000, "currency": "USD"},
    "timeline_distribution": {"P50": 2, "P80": 3, "P95": 4, "unit": "weeks"},
    "cost_breakdown_template": {"materials": 0.5, "labor": 0.4, "permits": 0.1},
    "regional_multipliers": {"SoCal - Coastal": 1.0},
}


async def set_tier(client: Any, tenant_id: str, tier: str) -> None:
    async with client.app.state.ctx.db.session() as s:
        t = (await s.execute(select(Tenant).where(Tenant.id == tenant_id))).scalar_one()
        t.tier = tier
        await s.commit()


async def own_classes(client: Any) -> int:
    async with client.app.state.ctx.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(ReferenceClass).where(
            ReferenceClass.tenant_id.is_not(None)))).scalar_one())


async def test_platform_set_is_seeded_and_shared_read_only(client, mailbox: Mailbox):
    a = await signup(client, mailbox, "cls@example.com")
    rows = (await client.get("/reference-classes", headers=a.bearer)).json()
    subs = {r["subcategory"] for r in rows}
    assert {"pool", "adu", "kitchen_remodel", "bathroom_remodel", "landscaping", "roofing", "flooring"} <= subs
    pools = sorted((r for r in rows if r["subcategory"] == "pool"), key=lambda r: r["cost_distribution"]["P50"])
    assert [round(p["cost_distribution"]["P50"], -3) for p in pools] == [35000, 55000, 85000, 135000]
    assert all(r["is_platform"] and r["is_synthetic"] for r in rows)
    pool = pools[1]
    assert pool["regional_multipliers"]["SoCal - Inland"] == 0.85
    r = await client.put(f"/reference-classes/{pool['_id']}", json={"description": "mine now"}, headers=a.bearer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "platform_class"


async def test_tier_caps_on_custom_classes(client, mailbox: Mailbox):
    a = await signup(client, mailbox, "cap@example.com")
    r = await client.post("/reference-classes", json=CLASS, headers=a.bearer)
    assert r.status_code == 403 and r.json()["error"]["code"] == "tier_limit"  # trial: platform only
    await set_tier(client, a.tenant_id, "pro")
    r = await client.post("/reference-classes", json=CLASS, headers=a.bearer)
    assert r.status_code == 201, r.text
    r = await client.post("/admin/synthetic/generate", json={"subcategories": ["pool"], "count_per_subcategory": 20},
                          headers=a.bearer)
    assert r.status_code == 201 and r.json()["generated_count"] == 20
    r = await client.post("/admin/synthetic/generate", json={"subcategories": ["pool", "adu"],
                                                             "count_per_subcategory": 15}, headers=a.bearer)
    assert r.status_code == 403 and "50" in r.json()["error"]["message"]
    assert await own_classes(client) == 21
    await set_tier(client, a.tenant_id, "enterprise")
    r = await client.post("/admin/synthetic/generate", json={"subcategories": ["pool", "adu"],
                                                             "count_per_subcategory": 15}, headers=a.bearer)
    assert r.status_code == 201 and await own_classes(client) == 51


@pytest.mark.parametrize("patch, field", [
    ({"cost_distribution": {"P50": 15000, "P80": 12000, "P95": 19000}}, "cost_distribution.P80"),
    ({"timeline_distribution": {"P50": 4, "P80": 3, "P95": 5}}, "timeline_distribution.P80"),
    ({"cost_breakdown_template": {"materials": 0.5, "labor": 0.3}}, "cost_breakdown_template"),
    ({"cost_breakdown_template": {"materials": 1.5}}, "cost_breakdown_template"),
    ({"regional_multipliers": {"SoCal - Coastal": 0}}, "regional_multipliers"),
    ({"regional_multipliers": {"SoCal - Coastal": -1.2}}, "regional_multipliers"),
    ({"cost_distribution": {"P50": "a lot", "P80": 1, "P95": 2}}, "cost_distribution"),
])
async def test_unsound_classes_are_refused_with_the_field(client, mailbox: Mailbox, patch, field):
    a = await signup(client, mailbox, "bad@example.com")
    await set_tier(client, a.tenant_id, "enterprise")
    r = await client.post("/reference-classes", json={**CLASS, **patch}, headers=a.bearer)
    assert r.status_code == 422, r.text
    assert any(f["field"].startswith(field) for f in r.json()["error"]["fields"]), r.json()
    assert await own_classes(client) == 0


async def test_generation_is_deterministic_and_validated(make_client):
    client = await make_client(auth_mode="local")
    body = {"category": "construction", "subcategories": ["pool", "adu"], "regions": ["SoCal - Coastal"],
            "count_per_subcategory": 3, "seed": 7}
    ids = (await client.post("/admin/synthetic/generate", json=body)).json()["reference_class_ids"]
    assert len(ids) == 6
    first = [(await client.get(f"/reference-classes/{i}")).json() for i in ids]
    again = (await client.post("/admin/synthetic/generate", json=body)).json()["reference_class_ids"]
    second = [(await client.get(f"/reference-classes/{i}")).json() for i in again]
    assert [c["cost_distribution"] for c in first] == [c["cost_distribution"] for c in second]
    assert all(c["regions"] == ["SoCal - Coastal"] for c in first)
    bad = await client.post("/admin/synthetic/generate", json={**body, "subcategories": ["moon_base"]})
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "subcategories"


async def test_validation_recommends_and_applies_tuning(make_client):
    client = await make_client(auth_mode="local")
    desc = {"description": "ADU, detached, 750 sq ft, midrange", "region": "SoCal - Coastal"}
    for k in range(12):  # ADUs come in about 30% over the prior
        e = (await client.post("/estimate/start", json=desc)).json()
        base = e["estimate"]["cost_p50"]
        await client.post("/feedback/contractor", json={"estimation_id": e["estimation_id"],
                                                        "actual_cost": base * (1.25 + 0.01 * k)})
    v = (await client.get("/admin/synthetic/validate")).json()
    assert v["synthetic_classes"] >= 22 and v["validated_by_feedback"] == 1
    (adu,) = v["classes_needing_tuning"]
    assert adu["name"] == e["matched_reference_class"]["name"]
    assert "Adjust P50 upward by" in adu["recommendation"] and adu["variance"] > 15
    before = (await client.get(f"/reference-classes/{adu['id']}")).json()
    r = await client.post("/admin/synthetic/apply", json={"reference_class_id": adu["id"]})
    assert r.status_code == 200, r.text
    tuned = r.json()["reference_class"]
    assert tuned["name"] == before["name"] and tuned["is_platform"] is False
    assert tuned["cost_distribution"]["P50"] > before["cost_distribution"]["P50"] * 1.2
    # the tenant's copy now overrides the platform class
    listed = [c for c in (await client.get("/reference-classes")).json() if c["name"] == before["name"]]
    assert [c["_id"] for c in listed] == [tuned["_id"]]


async def test_leads_filter_update_and_export(make_client):
    client = await make_client(auth_mode="local")
    for i, email in enumerate(["ann@example.com", "bob@example.com"]):
        await client.post("/estimate/start", json={"description": "new roof, tile", "customer_email": email,
                                                   "customer_name": "=HYPERLINK(1)" if i else "Ann"})
    await client.post("/estimate/start", json={"description": "new roof"})  # no contact: not a lead
    leads = (await client.get("/leads")).json()
    assert len(leads) == 2 and {x["status"] for x in leads} == {"new"}
    bob = next(x for x in leads if x["customer_email"] == "bob@example.com")
    r = await client.patch(f"/leads/{bob['_id']}", json={"status": "won", "notes": "signed"})
    assert r.status_code == 200 and r.json()["status"] == "won"
    assert [x["customer_email"] for x in (await client.get("/leads", params={"status": "won"})).json()] == [
        "bob@example.com"]
    bad = await client.patch(f"/leads/{bob['_id']}", json={"status": "maybe"})
    assert bad.status_code == 422
    r = await client.get("/leads", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 2 and {x["customer_email"] for x in rows} == {"ann@example.com", "bob@example.com"}
    assert next(x for x in rows if x["customer_email"] == "bob@example.com")["customer_name"].startswith("'=")
