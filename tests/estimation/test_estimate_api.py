"""Estimates through the HTTP API: start, read, refine with history, isolation, bad input."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from pricewise.estimation.models import Estimation, EstimationVersion
from tests.support import Mailbox, signup

POOL = "I want to install a 15x30 pool with spa in my backyard in San Diego"


async def count(client: Any, model: Any) -> int:
    async with client.app.state.ctx.db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.fixture
async def local(make_client: Any) -> Any:
    return await make_client(auth_mode="local")


async def test_a_pool_estimate_in_the_spec_shape(local):
    r = await local.post("/estimate/start", json={"description": POOL, "region": "SoCal - Coastal"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["matched_reference_class"]["name"].startswith("Residential Pool")
    assert 0 < body["matched_reference_class"]["confidence"] <= 1
    est = body["estimate"]
    assert 0 < est["cost_p50"] <= est["cost_p80"] <= est["cost_p95"]
    assert 0 < est["timeline_weeks_p50"] <= est["timeline_weeks_p80"]
    assert sum(est["cost_breakdown"].values()) == pytest.approx(est["cost_p50"], abs=1)
    assert body["extracted_attributes"]["includes_spa"] is True
    assert body["extracted_attributes"]["size_sqft"] == 450
    # the spa add-on is priced: the same pool without it is cheaper
    plain = (await local.post("/estimate/start", json={"description": "a 15x30 pool, no spa, in San Diego"})).json()
    assert plain["estimate"]["cost_p50"] < est["cost_p50"]
    assert body["assumptions"] and body["risks"] and f"{est['cost_p50']:,.0f}" in body["narrative"]
    assert body["status"] == "completed" and body["low_confidence"] is False
    got = await local.get(f"/estimate/{body['session_id']}")
    assert got.status_code == 200 and got.json()["estimate"] == est


async def test_region_moves_the_price_and_unknown_region_is_refused(local):
    coastal = (await local.post("/estimate/start", json={"description": "kitchen remodel, midrange",
                                                         "region": "SoCal - Coastal"})).json()
    inland = (await local.post("/estimate/start", json={"description": "kitchen remodel, midrange",
                                                        "region": "SoCal - Inland"})).json()
    assert inland["estimate"]["cost_p50"] < coastal["estimate"]["cost_p50"]
    before = await count(local, Estimation)
    r = await local.post("/estimate/start", json={"description": "kitchen remodel", "region": "Atlantis"})
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["fields"][0]["field"] == "region" and "Atlantis" in err["message"]
    assert await count(local, Estimation) == before


@pytest.mark.parametrize("payload, field", [
    ({"description": ""}, "description"),
    ({"description": "   "}, "description"),
    ({"description": "pool " * 20_000}, "description"),
    ({"description": 42}, "description"),
    ({"description": "pool", "customer_email": "not-an-email"}, "customer_email"),
    ({"description": "pool", "surprise": 1}, "surprise"),
])
async def test_bad_estimate_input_is_a_4xx_naming_the_field(local, payload, field):
    r = await local.post("/estimate/start", json=payload)
    assert r.status_code == 422, r.text
    assert any(field in f["field"] for f in r.json()["error"]["fields"]), r.json()
    assert await count(local, Estimation) == 0


async def test_refine_keeps_history_and_prices_the_new_details(local):
    first = (await local.post("/estimate/start", json={"description": "a 15x30 pool in Los Angeles"})).json()
    sid = first["session_id"]
    r = await local.post(f"/estimate/{sid}/refine",
                         json={"additional_info": "Pool should be heated, with automatic cover"})
    assert r.status_code == 200, r.text
    second = r.json()
    assert second["version"] == 2 and second["session_id"] == sid
    assert second["extracted_attributes"]["heating"] is True
    assert second["extracted_attributes"]["automatic_cover"] is True
    assert second["extracted_attributes"]["size_sqft"] == 450  # kept from the first version
    assert second["estimate"]["cost_p50"] > first["estimate"]["cost_p50"]
    assert [h["version"] for h in second["history"]] == [1, 2]
    assert second["history"][0]["estimate"] == first["estimate"]
    assert await count(local, EstimationVersion) == 1  # the replaced version; the current is the estimate
    missing = await local.post("/estimate/00000000-0000-4000-8000-000000000000/refine",
                               json={"additional_info": "heated"})
    assert missing.status_code == 404


async def test_another_tenants_estimate_is_not_found(client, mailbox: Mailbox):
    a = await signup(client, mailbox, "a@example.com")
    b = await signup(client, mailbox, "b@example.com", name="Other")
    r = await client.post("/estimate/start", json={"description": POOL}, headers=a.bearer)
    assert r.status_code == 200, r.text
    sid = r.json()["session_id"]
    assert (await client.get(f"/estimate/{sid}", headers=b.bearer)).status_code == 404
    assert (await client.post(f"/estimate/{sid}/refine", json={"additional_info": "heated"},
                              headers=b.key_headers)).status_code == 404
    assert (await client.get(f"/estimate/{sid}", headers=a.key_headers)).status_code == 200


async def test_vague_descriptions_are_said_to_be_unsure(local):
    r = await local.post("/estimate/start", json={"description": "hello, how much?"})
    assert r.status_code == 200
    body = r.json()
    assert body["low_confidence"] is True and body["status"] == "draft"
    assert "not sure" in body["clarifying_question"]


async def test_estimate_creation_is_rate_limited_by_tier(client, mailbox: Mailbox):
    a = await signup(client, mailbox, "rl@example.com")  # trial: 10 estimates an hour
    codes = [(await client.post("/estimate/start", json={"description": "new roof, asphalt shingles"},
                                headers=a.bearer)).status_code for _ in range(11)]
    assert codes[:10] == [200] * 10 and codes[10] == 429
