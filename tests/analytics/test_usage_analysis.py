"""Customer usage analyses: the CRUD the client uses, its validation, and the satisfaction prediction
(task-to-product fit, usage, calibration on recorded feedback, reasoning citing the figures)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pricewise.accounts.models import AuditLog
from pricewise.analytics.models import UsageAnalysis
from tests.support import signup

FEATURES = ("Scheduled report generation with custom filters.\n"
            "Export dashboards and reports to PDF and Excel.\n"
            "Revenue dashboards for finance teams.\n"
            "Data connectors for Postgres, Snowflake and BigQuery.")
MATCHING = "Generate monthly revenue reports with custom filters and export them to PDF"
UNRELATED = "Book a flight to Paris and find a cheap hotel near the station"
PATH = "/api/usage-analysis"


async def _ok(client, path, body):
    r = await client.post(path, json=body)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.fixture
async def ws(make_client):
    client = await make_client(auth_mode="local")
    prod = await _ok(client, "/product/create", {"name": "Reportly", "features_description_summary": FEATURES,
                                                 "icp_description": "Finance teams of mid-size companies"})
    other = await _ok(client, "/product/create", {"name": "Other"})
    seg = await _ok(client, "/customer-segment/create", {"customer_segment_name": "SMB",
                                                         "customer_segment_uid": "SMB", "product": prod["_id"]})
    other_seg = await _ok(client, "/customer-segment/create", {"customer_segment_name": "X",
                                                               "customer_segment_uid": "X", "product": other["_id"]})
    return client, {"product": prod["_id"], "segment": seg["_id"], "other": other["_id"],
                    "other_segment": other_seg["_id"]}


def _entry(ids, **over):
    return {"product": ids["product"], "customer_segment": ids["segment"], "customer_uid": "customer_123",
            "customer_task_to_agent": "Generate monthly reports with custom filters",
            "predicted_customer_satisfaction_response": 8.5,
            "predicted_customer_satisfaction_response_reasoning": "High usage of advanced features", **over}


async def _upload(client, kind, csv):
    r = await client.post(f"/imports/{kind}", files={"file": (f"{kind}.csv", csv.encode(), "text/csv")})
    assert r.status_code == 201, r.text
    assert r.json()["records_failed"] == 0, r.text


def _day(n):
    return (datetime.now(UTC).date() - timedelta(days=n)).isoformat()


async def _predict(client, ids, task, uid="new-customer", save=False, **over):
    r = await client.post(f"{PATH}/predict", json={"product": ids["product"], "customer_uid": uid,
                                                   "customer_task_to_agent": task, "save": save, **over})
    assert r.status_code == 200, r.text
    return r.json()


# --- CRUD ---------------------------------------------------------------------------------

async def test_crud_round_trip(ws):
    client, ids = ws
    first = await _ok(client, PATH, _entry(ids))
    assert {k: first[k] for k in _entry(ids)} == _entry(ids)
    assert re.fullmatch(r"[0-9a-f]{24}", first["_id"]) and first["method"] == "recorded"
    second = await _ok(client, PATH, _entry(ids, customer_uid="customer_456", customer_segment=None,
                                            predicted_customer_satisfaction_response=3))
    assert second["customer_segment"] is None and second["predicted_customer_satisfaction_response"] == 3

    listed = await client.get(PATH, params={"product_id": ids["product"]})
    assert listed.headers["X-Total-Count"] == "2"
    assert [x["_id"] for x in listed.json()] == [second["_id"], first["_id"]]  # newest first
    page = await client.get(PATH, params={"limit": 1, "offset": 1})
    assert [x["_id"] for x in page.json()] == [first["_id"]] and page.headers["X-Total-Count"] == "2"
    for bad in ({"limit": 1001}, {"limit": 0}, {"offset": -1}):  # the shared list bounds
        r = await client.get(PATH, params=bad)
        assert r.status_code == 422 and next(iter(bad)) in r.text, (bad, r.text)
    by_uid = (await client.get(PATH, params={"customer_uid": "customer_456"})).json()
    assert [x["_id"] for x in by_uid] == [second["_id"]]
    by_seg = (await client.get(PATH, params={"segment_id": ids["segment"]})).json()
    assert [x["_id"] for x in by_seg] == [first["_id"]]
    assert (await client.get(PATH, params={"product_id": ids["other"]})).json() == []

    read = (await client.get(f"{PATH}/{first['_id']}")).json()
    assert read == first
    put = await client.put(f"{PATH}/{first['_id']}", json={"predicted_customer_satisfaction_response": 6.25,
                                                          "customer_segment": None})
    assert put.status_code == 200, put.text
    changed = put.json()
    assert changed["predicted_customer_satisfaction_response"] == 6.25 and changed["customer_segment"] is None
    assert changed["customer_task_to_agent"] == first["customer_task_to_agent"]
    assert changed["customer_uid"] == "customer_123" and changed["product"] == ids["product"]

    gone = await client.delete(f"{PATH}/{first['_id']}")
    assert gone.status_code == 200 and gone.json() == {"success": True}
    assert (await client.get(f"{PATH}/{first['_id']}")).status_code == 404
    assert (await client.delete(f"{PATH}/{first['_id']}")).status_code == 404
    after = await client.get(PATH)
    assert [x["_id"] for x in after.json()] == [second["_id"]] and after.headers["X-Total-Count"] == "1"
    async with client.app.state.ctx.db.session() as s:
        row = (await s.execute(select(UsageAnalysis).where(UsageAnalysis.id == first["_id"]))).scalar_one()
        assert row.deleted_at is not None  # soft: the row is kept
        actions = [a.action for a in (await s.execute(select(AuditLog).where(
            AuditLog.entity_id == first["_id"]).order_by(AuditLog.created_at))).scalars()]
    assert actions == ["create", "update", "delete"]


BAD = [
    ({"predicted_customer_satisfaction_response": 11}, 422, "predicted_customer_satisfaction_response"),
    ({"predicted_customer_satisfaction_response": -1}, 422, "predicted_customer_satisfaction_response"),
    ({"predicted_customer_satisfaction_response": float("nan")}, 422, "predicted_customer_satisfaction_response"),
    ({"predicted_customer_satisfaction_response": float("inf")}, 422, "predicted_customer_satisfaction_response"),
    ({"predicted_customer_satisfaction_response": "8"}, 422, "predicted_customer_satisfaction_response"),
    ({"predicted_customer_satisfaction_response": None}, 422, "predicted_customer_satisfaction_response"),
    ({"customer_uid": None}, 422, "customer_uid"),
    ({"customer_uid": ""}, 422, "customer_uid"),
    ({"customer_uid": "   "}, 422, "customer_uid"),
    ({"customer_uid": "u" * 201}, 422, "customer_uid"),
    ({"customer_uid": 123}, 422, "customer_uid"),
    ({"customer_task_to_agent": "t" * 10_001}, 422, "customer_task_to_agent"),
    ({"customer_task_to_agent": ["a task"]}, 422, "customer_task_to_agent"),
    ({"predicted_customer_satisfaction_response_reasoning": 5}, 422,
     "predicted_customer_satisfaction_response_reasoning"),
    ({"product": "not-an-id"}, 422, "product"),
    ({"product": "0" * 24}, 404, "product"),
    ({"customer_segment": "0" * 24}, 404, "customer segment"),
    ({"customer_segment": "$other_segment"}, 422, "customer_segment"),
]


@pytest.mark.parametrize(("change", "status", "needle"), BAD)
async def test_bad_input_is_refused_by_name_and_writes_nothing(ws, change, status, needle):
    client, ids = ws
    change = {k: (ids[v[1:]] if isinstance(v, str) and v.startswith("$") else v) for k, v in change.items()}
    body = _entry(ids, **change)
    body = {k: v for k, v in body.items() if not (k == "customer_uid" and v is None)}  # missing, not null
    # NaN and infinity are not JSON: sent as the bare tokens a careless client writes
    r = await client.post(PATH, content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    assert needle in r.text
    assert (await client.get(PATH)).json() == []


async def test_bad_updates_are_refused_by_name(ws):
    client, ids = ws
    entry = await _ok(client, PATH, _entry(ids))
    for change, status, needle in [
            ({"predicted_customer_satisfaction_response": 10.5}, 422, "predicted_customer_satisfaction_response"),
            ({"predicted_customer_satisfaction_response": None}, 422, "predicted_customer_satisfaction_response"),
            ({"product": None}, 422, "product"),
            ({"customer_uid": ""}, 422, "customer_uid"),
            ({"product": ids["other"]}, 422, "customer_segment"),  # the kept segment is of the first product
            ({"customer_segment": "f" * 24}, 404, "customer segment")]:
        r = await client.put(f"{PATH}/{entry['_id']}", json=change)
        assert r.status_code == status, (change, r.text)
        assert needle in r.text, (change, r.text)
    assert (await client.get(f"{PATH}/{entry['_id']}")).json() == entry
    assert (await client.get(f"{PATH}/not-an-id")).status_code == 422
    assert (await client.put(f"{PATH}/{'0' * 24}", json={})).status_code == 404


async def test_other_tenants_entries_and_ids_are_not_found(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000)
    a = await signup(client, mailbox, "a@usage.example", name="A")
    b = await signup(client, mailbox, "b@usage.example", name="B")
    b_prod = (await client.post("/product/create", json={"name": "B"}, headers=b.bearer)).json()["_id"]
    a_prod = (await client.post("/product/create", json={"name": "A"}, headers=a.bearer)).json()["_id"]
    b_entry = (await client.post(PATH, headers=b.bearer, json={
        "product": b_prod, "customer_uid": "c", "customer_task_to_agent": "t",
        "predicted_customer_satisfaction_response": 4})).json()
    for method, body in [("GET", None), ("DELETE", None),
                         ("PUT", {"predicted_customer_satisfaction_response": 9})]:
        r = await client.request(method, f"{PATH}/{b_entry['_id']}", json=body, headers=a.bearer)
        assert r.status_code == 404, r.text
    r = await client.put(f"{PATH}/{b_entry['_id']}", json={"product": a_prod}, headers=a.bearer)
    assert r.status_code == 404
    assert (await client.get(PATH, headers=a.bearer)).json() == []
    assert (await client.get(PATH, params={"product_id": b_prod}, headers=a.bearer)).json() == []
    r = await client.post(f"{PATH}/predict", headers=a.bearer, json={
        "product": b_prod, "customer_uid": "c", "customer_task_to_agent": "t"})
    assert r.status_code == 404
    assert (await client.get(f"{PATH}/{b_entry['_id']}", headers=b.bearer)).json() == b_entry


# --- the prediction -----------------------------------------------------------------------

async def test_a_task_matching_the_documented_features_scores_higher(ws):
    client, ids = ws
    match = await _predict(client, ids, MATCHING)
    other = await _predict(client, ids, UNRELATED)
    fm, fo = match["prediction"]["features"]["fit"], other["prediction"]["features"]["fit"]
    assert fm["score"] > fo["score"] and fm["max_cosine"] > fo["max_cosine"]
    assert "report" in fm["best_match"].lower()
    assert match["prediction"]["score"] > other["prediction"]["score"] + 1
    assert match["predicted_customer_satisfaction_response"] == match["prediction"]["score"]
    for p in (match, other):
        lo, hi = p["prediction"]["interval"]
        assert 0 <= lo <= p["prediction"]["score"] <= hi <= 10
        assert p["prediction"]["calibration"] is None and p["prediction"]["method"] == "model"
        assert p["_id"] is None  # save: false
    assert (await client.get(PATH)).json() == []


async def test_recent_rising_usage_scores_higher_than_none(ws):
    client, ids = ws
    p = ids["product"]
    rows = ["customer_uid,date,metric,quantity,product"]
    rows += [f"active,{_day(d)},reports,20,{p}" for d in (1, 4, 9, 15, 22)]
    rows += [f"active,{_day(d)},{m},5,{p}" for d in (2, 12) for m in ("exports", "dashboards")]
    rows += [f"active,{_day(d)},reports,10,{p}" for d in (35, 50)]
    rows += [f"lapsed,{_day(d)},reports,10,{p}" for d in (120, 150)]
    await _upload(client, "usage", "\n".join(rows) + "\n")
    active = await _predict(client, ids, MATCHING, uid="active")
    lapsed = await _predict(client, ids, MATCHING, uid="lapsed")
    none = await _predict(client, ids, MATCHING, uid="nobody")
    u = active["prediction"]["features"]["usage"]
    assert u["days_since_last_use"] == 1 and u["last_30d"] == 120 and u["previous_30d"] == 20
    assert u["trend"] == round(100 / 140, 3) and u["distinct_metrics_90d"] == 3 and u["records"] == 11
    assert none["prediction"]["features"]["usage"]["records"] == 0
    assert lapsed["prediction"]["features"]["usage"]["days_since_last_use"] == 120
    assert active["prediction"]["score"] > none["prediction"]["score"] > lapsed["prediction"]["score"]
    assert "No recorded usage" in none["predicted_customer_satisfaction_response_reasoning"]


async def test_recorded_feedback_calibrates_the_prediction(ws):
    client, ids = ws
    p, other = ids["product"], ids["other"]
    before = await _predict(client, ids, MATCHING)
    assert before["prediction"]["score"] > 4
    await _upload(client, "customers", f"customer_uid,product\nlinked,{p}\n")
    await _upload(client, "feedback", "\n".join([
        "customer_uid,satisfaction_score,product,feedback_date,feedback_source",
        *(f"fb{i},{s},{p},{_day(i + 1)}T10:00:00Z,survey" for i, s in enumerate((1, 2, 2, 3))),
        f"linked,2,,{_day(3)}T10:00:00Z,survey",  # no product, but a customer of the product: matched
        f"fb0,10,{other},{_day(2)}T10:00:00Z,survey",  # another product: not counted
        f"fb1,,{p},{_day(6)}T10:00:00Z,call",  # no score: not counted
    ]) + "\n")
    after = await _predict(client, ids, MATCHING)
    cal = after["prediction"]["calibration"]
    assert cal is not None and cal["n"] == 5
    assert abs(after["prediction"]["score"] - 2) < abs(before["prediction"]["score"] - 2) - 1
    assert cal["mae"] > 0 and cal["bias"] > 0  # leave-one-out: still above the recorded 2s
    lo, hi = after["prediction"]["interval"]
    assert lo <= after["prediction"]["score"] <= hi
    # and the other way: glowing feedback pulls a poor fit up
    low = await _predict(client, ids, UNRELATED)
    await _upload(client, "feedback", "customer_uid,satisfaction_score,product\n" +
                  "".join(f"fan{i},10,{p}\n" for i in range(20)))
    high = await _predict(client, ids, UNRELATED)
    assert high["prediction"]["calibration"]["n"] == 25
    assert high["prediction"]["score"] > low["prediction"]["score"] + 3


async def test_reasoning_cites_the_computed_figures(ws):
    client, ids = ws
    p = ids["product"]
    await _upload(client, "usage", "customer_uid,date,metric,quantity,product\n" +
                  "".join(f"c1,{_day(d)},reports,{q},{p}\n" for d, q in ((3, 7), (10, 5), (40, 4))))
    await _upload(client, "feedback", "customer_uid,satisfaction_score,product\n" +
                  "".join(f"f{i},{s},{p}\n" for i, s in enumerate((6, 8, 9))))
    out = await _predict(client, ids, MATCHING, uid="c1", save=True)
    pred, text = out["prediction"], out["predicted_customer_satisfaction_response_reasoning"]
    fit, usage, cal = pred["features"]["fit"], pred["features"]["usage"], pred["calibration"]

    def num(pattern):
        m = re.search(pattern, text)
        assert m, f"{pattern!r} not in {text!r}"
        return [float(g) for g in m.groups()]

    assert num(r"Predicted satisfaction ([\d.]+)/10 \(80% interval ([\d.]+) to ([\d.]+)\)") == [
        pred["score"], *pred["interval"]]
    assert num(r"fit ([\d.]+): best cosine ([\d.]+), top-3 mean ([\d.]+)") == pytest.approx(
        [fit["score"], fit["max_cosine"], fit["mean_top3_cosine"]], abs=0.006)
    assert num(r"last used (\d+) days? ago; ([\d.]+) in the last 30 days vs ([\d.]+) in the previous 30 "
               r"\(trend ([+-][\d.]+)\); (\d+) distinct") == pytest.approx(
        [usage["days_since_last_use"], usage["last_30d"], usage["previous_30d"], usage["trend"],
         usage["distinct_metrics_90d"]], abs=0.006)
    assert usage["days_since_last_use"] == 3 and usage["last_30d"] == 12
    assert num(r"Baseline model score ([\d.]+), calibrated on (\d+) recorded feedback scores "
               r"\(leave-one-out MAE ([\d.]+), bias ([+-][\d.]+)\)") == pytest.approx(
        [pred["features"]["raw_score"], cal["n"], cal["mae"], cal["bias"]], abs=0.06)
    # saved as an entry of the model, readable and listed like any other
    assert out["method"] == "model" and re.fullmatch(r"[0-9a-f]{24}", out["_id"])
    read = (await client.get(f"{PATH}/{out['_id']}")).json()
    assert read["predicted_customer_satisfaction_response"] == pred["score"]
    assert read["predicted_customer_satisfaction_response_reasoning"] == text
    assert read["prediction"]["features"] == pred["features"]
    assert [x["_id"] for x in (await client.get(PATH, params={"customer_uid": "c1"})).json()] == [out["_id"]]


async def test_predict_takes_the_customers_segment_and_refuses_bad_input(ws):
    client, ids = ws
    await _upload(client, "customers", f"customer_uid,product,segment\nsegged,{ids['product']},SMB\n")
    out = await _predict(client, ids, MATCHING, uid="segged", save=True)
    assert out["customer_segment"] == ids["segment"]
    for change, status, needle in [({"customer_uid": ""}, 422, "customer_uid"),
                                   ({"customer_task_to_agent": " "}, 422, "customer_task_to_agent"),
                                   ({"customer_task_to_agent": "x" * 10_001}, 422, "customer_task_to_agent"),
                                   ({"product": "0" * 24}, 404, "product"),
                                   ({"customer_segment": ids["other_segment"]}, 422, "customer_segment"),
                                   ({"save": "yes"}, 422, "save")]:
        body = {"product": ids["product"], "customer_uid": "c", "customer_task_to_agent": MATCHING, **change}
        r = await client.post(f"{PATH}/predict", json=body)
        assert r.status_code == status, (change, r.text)
        assert needle in r.text
    assert len((await client.get(PATH)).json()) == 1


async def test_llm_writes_the_reasoning_and_the_numbers_stay_the_models(make_client, openai_stub):
    client = await make_client(auth_mode="local", openai_api_key="sk-test-good-key-1234",
                               openai_base_url=openai_stub.base_url)
    prod = await _ok(client, "/product/create", {"name": "Reportly", "features_description_summary": FEATURES})
    ids = {"product": prod["_id"]}
    # the model's score, asked first without an LLM answer worth keeping (no figure cited: refused)
    openai_stub.chat_reply = "The task matches the documented reporting features, so satisfaction should be high."
    bare = await _predict(client, ids, MATCHING)
    assert bare["prediction"]["method"] == "model" and "none of the computed figures" in bare["prediction"]["note"]
    score = bare["prediction"]["score"]
    openai_stub.chat_reply = (f"The task matches the documented reporting features, so satisfaction should be "
                              f"high: {score:.1f} out of 10.")
    prose = await _predict(client, ids, MATCHING, save=True)
    assert prose["method"] == "model+llm" and prose["prediction"]["method"] == "model+llm"
    assert prose["predicted_customer_satisfaction_response_reasoning"] == openai_stub.chat_reply
    assert any(r["path"] == "/v1/chat/completions" for r in openai_stub.requests)
    # a narrative citing a figure the model did not compute is refused: the template stands
    openai_stub.chat_reply = "Satisfaction will be 42 out of 10."
    refused = await _predict(client, ids, MATCHING)
    assert refused["prediction"]["method"] == "model" and "42" in refused["prediction"]["note"]
    assert refused["predicted_customer_satisfaction_response_reasoning"].startswith("Predicted satisfaction ")
    assert refused["prediction"]["score"] == prose["prediction"]["score"]


# --- the pure model -------------------------------------------------------------------------

def test_calibration_shrinks_toward_identity_and_reports_leave_one_out_error():
    from pricewise.analytics import satisfaction as sat

    raw = [2.0, 4.0, 6.0, 8.0] * 25  # recorded = 1 + 0.5 raw exactly, n = 100
    cal = sat.calibrate(raw, [1 + 0.5 * x for x in raw])
    w = 100 / 105
    assert cal.n == 100
    assert cal.intercept == pytest.approx(w * 1.0) and cal.slope == pytest.approx(w * 0.5 + (1 - w))
    # what shrinkage leaves: (1 - w)(0.5 raw - 1), 1.5 (1 - w) on average (a little more left out)
    assert cal.bias == pytest.approx(1.5 * (1 - w), rel=0.05) and cal.mae == pytest.approx(cal.bias, rel=0.05)
    one = sat.calibrate([7.0], [3.0])  # one row: the mean shift, shrunk to 1 / 6 of it
    assert one.slope == 1.0 and one.intercept == pytest.approx(-4.0 / 6)
    assert one.mae == pytest.approx(4.0) and one.bias == pytest.approx(4.0)  # left out: the identity
    inverted = sat.calibrate([2.0, 8.0, 2.0, 8.0], [9.0, 1.0, 9.0, 1.0])
    assert inverted.slope >= 0  # never reverses the ranking
    assert sat.calibrate([], []) is None


def test_baseline_rewards_fit_recent_use_and_growth():
    from datetime import date

    from pricewise.analytics import satisfaction as sat

    today = date(2024, 6, 30)
    good, poor = sat.Fit(0.8, 0.7, 0.9, 0), sat.Fit(0.3, 0.3, 0.0, 0)
    none = sat.usage_features(None, today)
    rising = sat.usage_features(sat.UsageStats(10, date(2024, 6, 29), 100.0, 20.0, 4), today)
    falling = sat.usage_features(sat.UsageStats(10, date(2024, 6, 1), 20.0, 100.0, 1), today)
    assert rising["trend"] == pytest.approx(80 / 120, abs=1e-3) and rising["days_since_last_use"] == 1
    assert falling["trend"] < 0 and none["records"] == 0
    score = {k: sat.raw_score(f, u)[0] for k, (f, u) in {
        "good-rising": (good, rising), "good-none": (good, none), "good-falling": (good, falling),
        "poor-none": (poor, none)}.items()}
    assert score["good-rising"] > score["good-none"] > score["good-falling"]
    assert score["good-none"] > score["poor-none"]
    assert all(0 < s < 10 for s in score.values())
    z = -1.5 + 3.0 * 0.9 - 0.3  # the documented formula, no usage
    assert score["good-none"] == pytest.approx(10 / (1 + 2.718281828459045 ** -z))
