"""Pricing experiments through the API, on markets whose price response is known."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.analytics.market import make_market
from tests.support import signup


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


def _iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def huge_revenue(db_url: str) -> None:
    """History written before values were capped at 1e15: two segments' 1e308 sum to infinity."""
    eng = create_async_engine(db_url)
    async with eng.begin() as conn:
        await conn.execute(text("UPDATE series_points SET value = 1e308 WHERE metric = 'revenue'"))
    await eng.dispose()


async def _create(client: Any, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/experiments", json={"name": "Test", **body})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_price_increase_predicts_fewer_subscriptions_by_the_elasticity(local):
    m = await make_market(local, elasticity=-1.5)  # prices 40 -> 46 -> 36, unit cost 20
    x = await _create(local, product=m.product, experiment_type="price_change", baseline_pricing=m.plan,
                      hypothesis="SMB can bear 45", target_segments=[m.segment],
                      experimental_pricing={"unit_price": 45})
    assert x["status"] == "draft" and x["baseline_pricing"] == m.plan and x["target_segments"] == [m.segment]
    p = x["predicted_impact"]
    assert p["available"] and p["baseline_price"] == 36 and p["experimental_price"] == 45
    e = p["elasticity"]
    assert e["source"] in ("regression", "regression+prior") and e["price_changes"] == 2
    assert abs(e["value"] + 1.5) <= 0.3
    r = (45 / 36) ** e["value"]
    assert p["change"]["revenue"]["value"] == pytest.approx(r * 45 / 36 - 1, abs=1e-6)
    assert p["change"]["subscriptions"]["value"] == pytest.approx(r - 1, abs=1e-6) and r < 1
    assert p["change"]["margin"]["value"] == pytest.approx(r * (45 - 20) / (36 - 20) - 1, abs=1e-6)
    assert p["expected"]["subscriptions"]["value"] < p["baseline"]["subscriptions"]
    for metric in ("revenue", "subscriptions", "margin"):
        band = p["change"][metric]
        assert band["lower80"] <= band["value"] <= band["upper80"]
        band = p["expected"][metric]
        assert band["lower80"] <= band["value"] <= band["upper80"]
    rows = p["projection"]
    assert len(rows) == 12 and p["horizon_months"] == 12
    assert rows[0]["date"] == p["window_start"] and all(row["date"].endswith("-01T00:00:00Z") for row in rows)
    for row in rows:
        assert row["revenue"] == pytest.approx(row["baseline_revenue"] * r * 45 / 36, rel=1e-9)
        assert row["revenue_lower80"] <= row["revenue"] <= row["revenue_upper80"]
        assert row["subscriptions_lower80"] <= row["subscriptions"] <= row["subscriptions_upper80"]
    assert p["expected"]["revenue"]["value"] == pytest.approx(sum(row["revenue"] for row in rows))
    assert any("constant elasticity" in a for a in p["assumptions"])
    assert any("target segments" in a for a in p["assumptions"])
    # read, list, filter
    got = (await local.get(f"/api/experiments/{x['_id']}")).json()
    assert got == x
    listed = await local.get("/api/experiments", params={"product_id": m.product, "status": "draft"})
    assert [e["_id"] for e in listed.json()] == [x["_id"]] and listed.headers["X-Total-Count"] == "1"
    assert (await local.get("/api/experiments", params={"status": "running"})).json() == []


async def test_without_price_variation_the_prior_is_used_and_said(local):
    m = await make_market(local, prices=[40.0] * 30)
    x = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                      experimental_pricing={"unit_price": 44})
    assert x["product"] == m.product  # taken from the plan
    p = x["predicted_impact"]
    assert p["elasticity"]["source"] == "prior" and p["elasticity"]["price_changes"] == 0
    assert p["elasticity"]["value"] == -1.0
    assert any("prior" in a and "never changed" in a for a in p["assumptions"])
    # unit elasticity: revenue unchanged, subscriptions down by 1 / 1.1
    assert p["change"]["revenue"]["value"] == pytest.approx(0.0, abs=1e-9)
    assert p["change"]["subscriptions"]["value"] == pytest.approx(1 / 1.1 - 1, abs=1e-9)
    # the prior's wide interval shows in the bounds
    assert p["change"]["revenue"]["upper80"] - p["change"]["revenue"]["lower80"] > 0.1


async def test_new_tier_and_bundle(local):
    a = await make_market(local, elasticity=-1.5)
    b = await make_market(local, elasticity=-0.8, prices=[90.0] * 12 + [100.0] * 24, plan_name="Premium",
                          segment_uid="ENT", product=a.product, seed=5)
    tier = await _create(local, experiment_type="new_tier", baseline_pricing=a.plan,
                         experimental_pricing={"plan_name": "Pro Plus", "unit_price": 50, "expected_share": 0.2})
    p = tier["predicted_impact"]
    e = p["elasticity"]["value"]
    r = (50 / 36) ** e
    assert p["change"]["revenue"]["value"] == pytest.approx(0.2 * (r * 50 / 36 - 1), abs=1e-6)
    assert p["tier"]["expected_share"] == 0.2 and p["tier"]["demand_ratio"] == pytest.approx(r)
    assert p["tracked"]["plans"] == [a.plan]
    for row, t in zip(p["projection"], p["tracked"]["projection"], strict=True):
        assert t["revenue"] == pytest.approx(0.8 * row["baseline_revenue"])  # the share that stays
    default = await _create(local, experiment_type="new_tier", baseline_pricing=a.plan,
                            experimental_pricing={"plan_name": "Lite", "unit_price": 20})
    assert default["predicted_impact"]["tier"]["expected_share"] == 0.1
    assert any("not given" in s for s in default["predicted_impact"]["assumptions"])

    total = 36 + 100
    bundle = await _create(local, experiment_type="bundling", baseline_pricing=a.plan,
                           experimental_pricing={"plan_ids": [a.plan, b.plan], "bundle_price": 0.8 * total,
                                                 "discount": 0.2})
    p = bundle["predicted_impact"]
    assert p["bundle"]["list_price_sum"] == total and p["bundle"]["implied_discount"] == pytest.approx(0.2)
    parts = {x["plan_id"]: x for x in p["parts"]}
    assert set(parts) == {a.plan, b.plan} and p["tracked"]["plans"] == [a.plan, b.plan]
    assert parts[b.plan]["elasticity"]["value"] > parts[a.plan]["elasticity"]["value"]  # Premium less elastic
    for part in parts.values():
        assert part["demand_ratio"] == pytest.approx(0.8 ** part["elasticity"]["value"])
        assert part["new_price"] == pytest.approx(part["current_price"] * 0.8)
    assert p["expected"]["revenue"]["value"] == pytest.approx(sum(x["revenue"] for x in parts.values()))
    assert p["change"]["revenue"]["value"] == pytest.approx(
        p["expected"]["revenue"]["value"] / p["baseline"]["revenue"] - 1, abs=1e-9)
    assert p["elasticity"]["source"] in ("regression", "regression+prior", "mixed")


async def test_status_transitions(local):
    m = await make_market(local)
    x = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                      experimental_pricing={"unit_price": 40})
    url = f"/api/experiments/{x['_id']}"
    r = await local.put(url, json={"status": "completed"})
    assert r.status_code == 409 and "status" in r.text and "draft" in r.text
    r = await local.put(url, json={"status": "running", "hypothesis": "40 holds"})
    assert r.status_code == 200, r.text
    running = r.json()
    today = date.today()
    assert running["status"] == "running" and running["start_date"] is not None
    assert running["start_date"][:7] == today.isoformat()[:7] and running["hypothesis"] == "40 holds"
    assert running["predicted_impact"]["window_start"] == _iso(date(today.year, today.month, 1))
    # the pricing is fixed once running, but echoing the entity back is fine
    r = await local.put(url, json={"experimental_pricing": {"unit_price": 41}})
    assert r.status_code == 409 and "experimental_pricing" in r.text and "running" in r.text
    r = await local.put(url, json={**running, "name": "Renamed"})
    assert r.status_code == 200 and r.json()["name"] == "Renamed", r.text
    r = await local.put(url, json={"status": "draft"})
    assert r.status_code == 409 and "running to draft" in r.text
    r = await local.put(url, json={"status": "completed"})
    assert r.status_code == 200 and r.json()["end_date"] is not None
    assert r.json()["actual_results"]["status"] in ("no_data", "compared")
    for status in ("running", "cancelled", "draft"):
        r = await local.put(url, json={"status": status})
        assert r.status_code == 409 and "completed" in r.text, r.text
    other = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                          experimental_pricing={"unit_price": 38})
    r = await local.put(f"/api/experiments/{other['_id']}", json={"status": "cancelled"})
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = await local.put(f"/api/experiments/{other['_id']}", json={"status": "running"})
    assert r.status_code == 409 and "cancelled" in r.text
    # a draft may change its pricing, and the prediction follows
    third = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                          experimental_pricing={"unit_price": 38})
    r = await local.put(f"/api/experiments/{third['_id']}", json={"experimental_pricing": {"unit_price": 30}})
    assert r.status_code == 200 and r.json()["predicted_impact"]["experimental_price"] == 30
    assert r.json()["predicted_impact"]["change"]["subscriptions"]["value"] > 0
    # delete: gone from reads and lists
    assert (await local.delete(f"/api/experiments/{third['_id']}")).status_code == 200
    assert (await local.get(f"/api/experiments/{third['_id']}")).status_code == 404
    assert third["_id"] not in {e["_id"] for e in (await local.get("/api/experiments")).json()}


async def test_results_compare_the_data_since_the_start(local):
    m = await make_market(local, elasticity=-1.5)
    start = m.months[-3]  # three months of data already exist from the start on
    x = await _create(local, experiment_type="price_change", baseline_pricing=m.plan, status="running",
                      target_segments=[m.segment], start_date=start.isoformat(),
                      experimental_pricing={"unit_price": 40})
    p = x["predicted_impact"]
    # made as of the start: from the data before it, over a window beginning at it
    assert p["data_through"] == _iso(m.months[-4]) and p["window_start"] == _iso(start)
    url = f"/api/experiments/{x['_id']}/results"
    first = (await local.post(url)).json()["actual_results"]
    assert first["status"] == "compared" and first["revenue"]["months"] == 3
    assert [row["date"] for row in first["months"]] == [_iso(d) for d in m.months[-3:]]

    async def post(scale: float) -> dict[str, Any]:
        rows = p["tracked"]["projection"][:3]
        r = await local.post("/api/analytics/segment-contribution", json={
            "product": m.product, "customer_segment": m.segment, "pricing_plan": m.plan,
            "active_subscriptions": [{"date": row["date"], "value": row["subscriptions"] * scale} for row in rows],
            "revenue_ts_data": [{"date": row["date"], "value": row["revenue"] * scale} for row in rows]})
        assert r.status_code == 200, r.text
        out = await local.post(url)
        assert out.status_code == 200, out.text
        return dict(out.json()["actual_results"])

    on_target = await post(1.0)
    assert on_target["status"] == "compared" and on_target["within80"] is True
    assert on_target["revenue"]["mape"] == pytest.approx(0.0, abs=1e-9)
    assert on_target["subscriptions"]["within80_share"] == 1.0
    halved = await post(0.5)
    assert halved["within80"] is False and halved["revenue"]["within80"] is False
    assert halved["revenue"]["mape"] == pytest.approx(1.0, rel=1e-9)  # |0.5p - p| / 0.5p
    assert halved["revenue"]["actual_total"] == pytest.approx(0.5 * halved["revenue"]["predicted_total"])
    month = halved["months"][0]["revenue"]
    assert month["actual"] < month["lower80"] and month["within80"] is False
    # the stored prediction did not move with the new data
    assert (await local.get(f"/api/experiments/{x['_id']}")).json()["predicted_impact"] == p
    # started this month: no data since the start yet
    fresh = await _create(local, experiment_type="price_change", baseline_pricing=m.plan, status="running",
                          experimental_pricing={"unit_price": 40})
    res = (await local.post(f"/api/experiments/{fresh['_id']}/results")).json()["actual_results"]
    assert res["status"] == "no_data" and "no revenue or subscription data since" in res["message"]
    draft = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                          experimental_pricing={"unit_price": 40})
    r = await local.post(f"/api/experiments/{draft['_id']}/results")
    assert r.status_code == 409 and "draft" in r.text


async def test_without_history_the_prediction_says_why(local):
    plan = (await local.post("/pricing-plan/create", json={"plan_name": "New", "unit_price": 10})).json()
    x = await _create(local, experiment_type="price_change", baseline_pricing=plan["_id"],
                      experimental_pricing={"unit_price": 12})
    assert x["predicted_impact"]["available"] is False
    assert "no subscription history" in x["predicted_impact"]["reason"]


async def test_bad_input_is_refused_and_nothing_is_written(local, make_client, mailbox):
    m = await make_market(local, prices=[40.0] * 12 + [36.0] * 12)
    other_plan = (await local.post("/pricing-plan/create", json={"plan_name": "Other", "unit_price": 5})).json()
    ok = {"name": "E", "experiment_type": "price_change", "baseline_pricing": m.plan,
          "experimental_pricing": {"unit_price": 45}}
    nan = float("nan")
    cases = [
        ({"experiment_type": "discount"}, 422, "experiment_type"),
        ({"experimental_pricing": {"unit_price": -5}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": 0}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": nan}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": "45"}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": True}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {}}, 422, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": 45, "price": 4}}, 422, "experimental_pricing.price"),
        ({"experimental_pricing": [45]}, 422, "experimental_pricing"),
        ({"experiment_type": "new_tier", "experimental_pricing": {"unit_price": 50}}, 422,
         "experimental_pricing.plan_name"),
        ({"experiment_type": "new_tier", "experimental_pricing": {"plan_name": "T", "unit_price": 50,
                                                                  "expected_share": 1.5}}, 422,
         "experimental_pricing.expected_share"),
        ({"experiment_type": "bundling", "experimental_pricing": {"plan_ids": [m.plan], "bundle_price": 9}}, 422,
         "experimental_pricing.plan_ids"),
        ({"experiment_type": "bundling", "experimental_pricing": {"plan_ids": [other_plan["_id"], "0" * 24],
                                                                  "bundle_price": 9}}, 422,
         "experimental_pricing.plan_ids"),
        ({"experiment_type": "bundling", "experimental_pricing": {"plan_ids": [m.plan, "0" * 24],
                                                                  "bundle_price": 9}}, 404, None),
        ({"experiment_type": "bundling", "experimental_pricing": {"plan_ids": [m.plan, other_plan["_id"]],
                                                                  "bundle_price": -1}}, 422,
         "experimental_pricing.bundle_price"),
        ({"start_date": "2025-05-01", "end_date": "2025-04-01"}, 422, "end_date"),
        ({"start_date": 1700000000}, 422, "start_date"),
        ({"start_date": "soon"}, 422, "start_date"),
        ({"name": 5}, 422, "name"),
        ({"name": ""}, 422, "name"),
        ({"target_segments": m.segment}, 422, "target_segments"),
        ({"target_segments": ["0" * 24]}, 404, None),
        ({"baseline_pricing": "0" * 24}, 404, None),
        ({"baseline_pricing": "nope"}, 422, "baseline_pricing"),
        ({"product": "0" * 24}, 404, None),
        ({"status": "completed"}, 422, "status"),
    ]
    for patch, status, field in cases:
        # NaN is not JSON, but a client may still send the literal: the body is written by hand
        r = await local.post("/api/experiments", content=json.dumps({**ok, **patch}),
                             headers={"Content-Type": "application/json"})
        assert r.status_code == status, (patch, r.text)
        if field:
            assert any(f["field"] == field for f in r.json()["error"]["fields"]), (patch, r.text)
    assert (await local.get("/api/experiments")).json() == []
    # a segment or plan of another product
    other = (await local.post("/product/create", json={"name": "Other"})).json()
    seg = (await local.post("/customer-segment/create", json={
        "product": other["_id"], "customer_segment_name": "X", "customer_segment_uid": "X"})).json()
    r = await local.post("/api/experiments", json={**ok, "target_segments": [seg["_id"]]})
    assert r.status_code == 422 and "target_segments.0" in r.text
    r = await local.post("/api/experiments", json={**ok, "product": other["_id"]})
    assert r.status_code == 422 and "baseline_pricing" in r.text
    # updates
    x = await _create(local, **{k: v for k, v in ok.items() if k != "name"})
    url = f"/api/experiments/{x['_id']}"
    for body, status, field in [({"status": "paused"}, 422, "status"), ({"name": None}, 422, "name"),
                                ({"end_date": "1999-01-01", "start_date": "2000-01-01"}, 422, "end_date"),
                                ({"experiment_type": "new_tier"}, 422, "experimental_pricing"),
                                ({"experimental_pricing": {"unit_price": -1}}, 422, "experimental_pricing.unit_price"),
                                ({"baseline_pricing": "0" * 24}, 404, None)]:
        r = await local.put(url, json=body)
        assert r.status_code == status, (body, r.text)
        if field:
            assert field in r.text, (body, r.text)
    assert (await local.get(url)).json() == x  # nothing changed
    assert (await local.get("/api/experiments/nope")).status_code == 422
    for method in ("GET", "PUT", "DELETE"):
        r = await local.request(method, f"/api/experiments/{'0' * 24}", json={} if method == "PUT" else None)
        assert r.status_code == 404, (method, r.text)
    assert (await local.post(f"/api/experiments/{'0' * 24}/results")).status_code == 404
    assert (await local.get("/api/experiments", params={"status": "paused"})).status_code == 422

    # another workspace: every route is 404, its list filter finds nothing, its ids are refused
    client = await make_client()
    acct = await signup(client, mailbox, "b@example.com")
    h = acct.bearer
    for method, path in [("GET", url), ("PUT", url), ("DELETE", url), ("POST", f"{url}/results")]:
        r = await client.request(method, path, headers=h, json={"name": "x"} if method == "PUT" else None)
        assert r.status_code == 404, (method, path, r.text)
    listed = await client.get("/api/experiments", params={"product_id": m.product}, headers=h)
    assert listed.status_code == 200 and listed.json() == []
    mine = (await client.post("/pricing-plan/create", json={"plan_name": "B", "unit_price": 3}, headers=h)).json()
    for patch in ({"baseline_pricing": m.plan}, {"baseline_pricing": mine["_id"], "target_segments": [m.segment]},
                  {"baseline_pricing": mine["_id"], "experiment_type": "bundling",
                   "experimental_pricing": {"plan_ids": [mine["_id"], m.plan], "bundle_price": 9}}):
        r = await client.post("/api/experiments", json={**ok, **patch}, headers=h)
        assert r.status_code == 404, (patch, r.text)
    assert (await local.get(url)).json() == x


def _errors(r: Any) -> list[str]:
    return [f["field"] for f in r.json()["error"]["fields"]]


async def test_numbers_and_dates_beyond_any_range_are_422_naming_the_field(local):
    m = await make_market(local, elasticity=-1.5)  # the baseline price in force last: 36
    other = await make_market(local, prices=[100.0] * 24, plan_name="Premium", segment_uid="ENT",
                              product=m.product, seed=5)
    ok = {"name": "E", "experiment_type": "price_change", "baseline_pricing": m.plan,
          "experimental_pricing": {"unit_price": 45}}
    huge = 10 ** 400  # an int no float holds
    bundle = {"experiment_type": "bundling", "experimental_pricing": {"plan_ids": [m.plan, other.plan],
                                                                      "bundle_price": 100}}
    cases = [
        ({"experimental_pricing": {"unit_price": huge}}, "experimental_pricing.unit_price"),
        ({"experiment_type": "new_tier", "experimental_pricing": {"plan_name": "T", "unit_price": 40,
                                                                  "expected_share": huge}},
         "experimental_pricing.expected_share"),
        ({**bundle, "experimental_pricing": {**bundle["experimental_pricing"], "bundle_price": huge}},
         "experimental_pricing.bundle_price"),
        # beyond 1/100..100 of the baseline price: constant elasticity says nothing there
        ({"experimental_pricing": {"unit_price": 1e-200}}, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": 0.35}}, "experimental_pricing.unit_price"),
        ({"experimental_pricing": {"unit_price": 3601}}, "experimental_pricing.unit_price"),
        ({"experiment_type": "new_tier", "experimental_pricing": {"plan_name": "T", "unit_price": 1e-200}},
         "experimental_pricing.unit_price"),
        ({**bundle, "experimental_pricing": {**bundle["experimental_pricing"], "bundle_price": 1e-200}},
         "experimental_pricing.bundle_price"),
        ({**bundle, "experimental_pricing": {**bundle["experimental_pricing"], "bundle_price": 13601}},
         "experimental_pricing.bundle_price"),
        # offsets that push the day out of the calendar, and days outside 1900..2200
        ({"start_date": "0001-01-01T00:00:00+01:00"}, "start_date"),
        ({"end_date": "9999-12-31T23:59:59-01:00"}, "end_date"),
        ({"start_date": "1899-12-31"}, "start_date"),
        ({"end_date": "2201-01-01"}, "end_date"),
    ]
    for patch, field in cases:
        r = await local.post("/api/experiments", content=json.dumps({**ok, **patch}),
                             headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and field in _errors(r), (patch, r.text)
    assert (await local.get("/api/experiments")).json() == []
    # the edges of the range are fine, and give finite figures
    for price in (0.36, 3600):
        x = await _create(local, **{**{k: v for k, v in ok.items() if k != "name"},
                                    "experimental_pricing": {"unit_price": price}})
        assert x["predicted_impact"]["available"] is True, x["predicted_impact"]
    x = await _create(local, **{k: v for k, v in ok.items() if k != "name"})
    url = f"/api/experiments/{x['_id']}"
    for body, field in [({"experimental_pricing": {"unit_price": 1e-200}}, "experimental_pricing.unit_price"),
                        ({"experimental_pricing": {"unit_price": huge}}, "experimental_pricing.unit_price"),
                        ({"start_date": "0001-01-01T00:00:00+01:00"}, "start_date"),
                        ({"end_date": "9999-12-31T23:59:59-01:00"}, "end_date")]:
        r = await local.put(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and field in _errors(r), (body, r.text)
    assert (await local.get(url)).json() == x


async def test_a_price_out_of_range_of_a_later_baseline_makes_the_prediction_unavailable(local):
    # The plan lists at 10 today; its data (loaded after the experiment was drafted) were sold at 1.
    months = [date(2024, m, 1) for m in range(1, 13)]
    product = (await local.post("/product/create", json={"name": "P"})).json()["_id"]
    seg = (await local.post("/customer-segment/create", json={"product": product, "customer_segment_name": "S",
                                                              "customer_segment_uid": "S"})).json()["_id"]
    plan = (await local.post("/pricing-plan/create", json={"product": product, "plan_name": "Basic",
                                                           "unit_price": 10})).json()["_id"]
    r = await local.post("/pricing-plan/price-history", json={"id": plan, "unit_price": 1,
                                                              "effective_at": _iso(months[0])})
    assert r.status_code == 200, r.text
    x = await _create(local, experiment_type="price_change", baseline_pricing=plan,
                      experimental_pricing={"unit_price": 500})  # 50x today's list price: accepted
    assert x["predicted_impact"]["available"] is False and "no subscription history" in x["predicted_impact"]["reason"]
    r = await local.post("/api/analytics/segment-contribution", json={
        "product": product, "customer_segment": seg, "pricing_plan": plan,
        "active_subscriptions": [{"date": _iso(m), "value": 100 + i} for i, m in enumerate(months)]})
    assert r.status_code == 200, r.text
    # an edit predicts the stale draft again: 500x the price in force in the data is out of range
    r = await local.put(f"/api/experiments/{x['_id']}", json={"name": "Renamed"})
    assert r.status_code == 200, r.text
    p = r.json()["predicted_impact"]
    assert p["available"] is False and "experimental_pricing.unit_price" in p["reason"] and "100x" in p["reason"]


async def test_a_history_that_cannot_be_forecast_makes_the_prediction_unavailable(local, db_url):
    m = await make_market(local, elasticity=-1.5)
    # a second segment on the same plan: the plan's revenue is the sum of both
    seg = (await local.post("/customer-segment/create", json={"product": m.product, "customer_segment_name": "E",
                                                              "customer_segment_uid": "E"})).json()["_id"]
    r = await local.post("/api/analytics/segment-contribution", json={
        "product": m.product, "customer_segment": seg, "pricing_plan": m.plan,
        "active_subscriptions": [{"date": _iso(d), "value": 10} for d in m.months],
        "revenue_ts_data": [{"date": _iso(d), "value": 400} for d in m.months]})
    assert r.status_code == 200, r.text
    await huge_revenue(db_url)
    x = await _create(local, experiment_type="price_change", baseline_pricing=m.plan,
                      experimental_pricing={"unit_price": 40})
    p = x["predicted_impact"]
    assert p["available"] is False and "Pro" in p["reason"] and "revenue history cannot be forecast" in p["reason"]
    # a running experiment's results over the same history: said, not a failure
    run = await _create(local, experiment_type="price_change", baseline_pricing=m.plan, status="running",
                        start_date=m.months[-3].isoformat(), experimental_pricing={"unit_price": 40})
    r = await local.post(f"/api/experiments/{run['_id']}/results")
    assert r.status_code == 200, r.text
    assert r.json()["actual_results"]["status"] == "unavailable"
    assert "out of range" in r.json()["actual_results"]["message"]
