"""What-if scenarios through the API: the three cases over the product's plan forecasts."""

from __future__ import annotations

import json
from datetime import date

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.analytics.market import make_market, months_back
from tests.support import signup


@pytest.fixture
async def local(make_client):
    return await make_client(auth_mode="local")


def _values(points: list[dict]) -> list[float]:
    return [p["value"] for p in points]


async def test_three_scenarios_are_ordered_and_stored(local):
    a = await make_market(local, elasticity=-1.5)
    await make_market(local, elasticity=-0.8, prices=[90.0] * 12 + [100.0] * 24, plan_name="Premium",
                      segment_uid="ENT", product=a.product, seed=5)
    r = await local.post("/api/scenarios/compare", json={"product": a.product})
    assert r.status_code == 200, r.text
    cmp = r.json()
    s = cmp["scenarios"]
    assert set(s) == {"optimistic", "realistic", "pessimistic"}
    for metric in ("projections", "subscriptions_projections"):
        opt, real, pess = (_values(s[k][metric]) for k in ("optimistic", "realistic", "pessimistic"))
        assert len(real) == 12
        assert all(o >= x >= p for o, x, p in zip(opt, real, pess, strict=True)), metric
        assert opt != pess
    assert s["optimistic"]["totals"]["revenue"] > s["realistic"]["totals"]["revenue"] > s["pessimistic"]["totals"][
        "revenue"]
    assert all(p["date"].endswith("-01T00:00:00Z") for p in s["realistic"]["projections"])
    assert {p["plan_name"] for p in s["realistic"]["plans"]} == {"Pro", "Premium"}
    # the product's total is the sum of its plans
    assert s["realistic"]["totals"]["revenue"] == pytest.approx(sum(p["revenue"] for p in s["realistic"]["plans"]))

    made = {}
    for kind in ("optimistic", "realistic", "pessimistic"):
        r = await local.post("/api/scenarios", json={"name": f"FY {kind}", "product": a.product, "scenario_type": kind})
        assert r.status_code == 200, r.text
        made[kind] = r.json()
        assert made[kind]["scenario_type"] == kind and made[kind]["product"] == a.product
        # the same baselines as the comparison
        assert _values(made[kind]["projections"]) == pytest.approx(_values(s[kind]["projections"]))
        assert made[kind]["assumptions"] == {"growth_adjustment": 0.0, "price_change": 0.0,
                                             "churn_adjustment": 0.0, "horizon": 12}
    got = (await local.get(f"/api/scenarios/{made['realistic']['_id']}")).json()
    assert got == made["realistic"]
    listed = await local.get("/api/scenarios", params={"product_id": a.product, "limit": 2})
    assert len(listed.json()) == 2 and listed.headers["X-Total-Count"] == "3"
    only = (await local.get("/api/scenarios", params={"scenario_type": "pessimistic"})).json()
    assert [x["_id"] for x in only] == [made["pessimistic"]["_id"]]
    assert (await local.delete(f"/api/scenarios/{made['optimistic']['_id']}")).status_code == 200
    assert (await local.get(f"/api/scenarios/{made['optimistic']['_id']}")).status_code == 404
    assert (await local.get("/api/scenarios")).headers["X-Total-Count"] == "2"


async def test_assumptions_shift_the_projection(local):
    m = await make_market(local, elasticity=-1.5)
    base = (await local.post("/api/scenarios", json={"name": "Base", "product": m.product,
                                                     "scenario_type": "realistic"})).json()
    grown = (await local.post("/api/scenarios", json={
        "name": "Growth", "product": m.product, "scenario_type": "realistic",
        "assumptions": {"growth_adjustment": 0.02, "churn_adjustment": 0.01, "horizon": 6}})).json()
    assert len(grown["projections"]) == 6
    for t, (g, b) in enumerate(zip(_values(grown["projections"]), _values(base["projections"])[:6], strict=False)):
        assert g == pytest.approx(b * (1.02 * 0.99) ** (t + 1))
    priced = await local.post("/api/scenarios/compare", json={"product": m.product,
                                                              "assumptions": {"price_change": 0.1}})
    s = priced.json()["scenarios"]
    plain = (await local.post("/api/scenarios/compare", json={"product": m.product})).json()["scenarios"]
    real = s["realistic"]
    r = real["plans"][0]["demand_ratio"]
    assert r < 1  # a 10% increase loses subscriptions under elastic demand
    assert real["totals"]["revenue"] == pytest.approx(plain["realistic"]["totals"]["revenue"] * r * 1.1)
    assert s["optimistic"]["plans"][0]["demand_ratio"] > r > s["pessimistic"]["plans"][0]["demand_ratio"]
    assert any("elasticity" in n for n in priced.json()["notes"])
    opt, real_v, pess = (_values(s[k]["projections"]) for k in ("optimistic", "realistic", "pessimistic"))
    assert all(o >= x >= p for o, x, p in zip(opt, real_v, pess, strict=True))


async def test_scenario_bad_input(local, make_client, mailbox):
    m = await make_market(local, prices=[40.0] * 24)
    empty = (await local.post("/product/create", json={"name": "Empty"})).json()
    ok = {"name": "S", "product": m.product, "scenario_type": "realistic"}
    nan = float("nan")
    cases = [({"scenario_type": "best"}, 422, "scenario_type"),
             ({"scenario_type": None}, 422, "scenario_type"),
             ({"name": ""}, 422, "name"),
             ({"assumptions": {"growth": 0.1}}, 422, "assumptions.growth"),
             ({"assumptions": {"price_change": nan}}, 422, "assumptions.price_change"),
             ({"assumptions": {"price_change": -0.95}}, 422, "assumptions.price_change"),
             ({"assumptions": {"churn_adjustment": "0.1"}}, 422, "assumptions.churn_adjustment"),
             ({"assumptions": {"horizon": 0}}, 422, "assumptions.horizon"),
             ({"assumptions": {"horizon": 1.5}}, 422, "assumptions.horizon"),
             ({"assumptions": [1]}, 422, "assumptions"),
             ({"product": "nope"}, 422, "product"),
             ({"product": "0" * 24}, 404, None),
             ({"product": empty["_id"]}, 422, "product")]
    for patch, status, field in cases:
        r = await local.post("/api/scenarios", content=json.dumps({**ok, **patch}),
                             headers={"Content-Type": "application/json"})
        assert r.status_code == status, (patch, r.text)
        if field:
            assert any(f["field"] == field for f in r.json()["error"]["fields"]), (patch, r.text)
    assert (await local.get("/api/scenarios")).json() == []
    r = await local.post("/api/scenarios/compare", json={"product": m.product, "assumptions": {"horizon": 99}})
    assert r.status_code == 422 and "assumptions.horizon" in r.text
    assert (await local.get("/api/scenarios", params={"scenario_type": "best"})).status_code == 422
    assert (await local.get(f"/api/scenarios/{'0' * 24}")).status_code == 404
    assert (await local.delete(f"/api/scenarios/{'0' * 24}")).status_code == 404
    # another workspace
    mine = (await local.post("/api/scenarios", json=ok)).json()
    client = await make_client()
    acct = await signup(client, mailbox, "b@example.com")
    h = acct.bearer
    assert (await client.get(f"/api/scenarios/{mine['_id']}", headers=h)).status_code == 404
    assert (await client.delete(f"/api/scenarios/{mine['_id']}", headers=h)).status_code == 404
    assert (await client.post("/api/scenarios", json=ok, headers=h)).status_code == 404
    assert (await client.post("/api/scenarios/compare", json={"product": m.product}, headers=h)).status_code == 404
    listed = await client.get("/api/scenarios", params={"product_id": m.product}, headers=h)
    assert listed.status_code == 200 and listed.json() == []
    assert (await local.get(f"/api/scenarios/{mine['_id']}")).json() == mine


def _iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


async def test_without_revenue_the_baseline_is_subscriptions_at_the_price_in_force(local):
    # Listed at 50 since today; every month of data was sold at 40. The scenarios and the
    # experiments both price the baseline at 40, the price in force in the last month of data.
    months = months_back(24)
    product = (await local.post("/product/create", json={"name": "P"})).json()["_id"]
    seg = (await local.post("/customer-segment/create", json={"product": product, "customer_segment_name": "S",
                                                              "customer_segment_uid": "S"})).json()["_id"]
    plan = (await local.post("/pricing-plan/create", json={"product": product, "plan_name": "Basic",
                                                           "unit_price": 50})).json()["_id"]
    r = await local.post("/pricing-plan/price-history", json={"id": plan, "unit_price": 40,
                                                              "effective_at": _iso(months[0])})
    assert r.status_code == 200, r.text
    r = await local.post("/api/analytics/segment-contribution", json={
        "product": product, "customer_segment": seg, "pricing_plan": plan,
        "active_subscriptions": [{"date": _iso(m), "value": 100 + 2 * i + (i % 3)} for i, m in enumerate(months)]})
    assert r.status_code == 200, r.text
    assert (await local.get("/pricing-plan/read", params={"id": plan})).json()["unit_price"] == 50
    s = (await local.post("/api/scenarios/compare", json={"product": product})).json()["scenarios"]["realistic"]
    for rev, subs in zip(_values(s["projections"]), _values(s["subscriptions_projections"]), strict=True):
        assert rev == pytest.approx(subs * 40)
    x = await local.post("/api/experiments", json={"name": "E", "experiment_type": "price_change",
                                                   "baseline_pricing": plan,
                                                   "experimental_pricing": {"unit_price": 44}})
    p = x.json()["predicted_impact"]
    assert p["baseline_price"] == 40
    for row in p["projection"]:
        assert row["baseline_revenue"] == pytest.approx(row["baseline_subscriptions"] * 40)


async def test_a_history_that_cannot_be_forecast_is_422_naming_the_product(local, db_url):
    m = await make_market(local, elasticity=-1.5)
    seg = (await local.post("/customer-segment/create", json={"product": m.product, "customer_segment_name": "E",
                                                              "customer_segment_uid": "E"})).json()["_id"]
    r = await local.post("/api/analytics/segment-contribution", json={
        "product": m.product, "customer_segment": seg, "pricing_plan": m.plan,
        "revenue_ts_data": [{"date": _iso(d), "value": 400} for d in m.months]})
    assert r.status_code == 200, r.text
    # history written before values were capped at 1e15: the two segments' 1e308 sum to infinity
    eng = create_async_engine(db_url)
    async with eng.begin() as conn:
        await conn.execute(text("UPDATE series_points SET value = 1e308 WHERE metric = 'revenue'"))
    await eng.dispose()
    for path, body in [("/api/scenarios/compare", {"product": m.product}),
                       ("/api/scenarios", {"name": "S", "product": m.product, "scenario_type": "realistic"})]:
        r = await local.post(path, json=body)
        assert r.status_code == 422, (path, r.text)
        [err] = r.json()["error"]["fields"]
        assert err["field"] == "product" and "Pro" in err["message"] and "revenue" in err["message"], r.text
    assert (await local.get("/api/scenarios")).json() == []
