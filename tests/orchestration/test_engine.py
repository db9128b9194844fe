"""The engine under failures and requests: retries with backoff, a step that keeps failing,
pause / resume / cancel, the timeout, the concurrency limits, and tenant isolation."""

from __future__ import annotations

import itertools

import pytest
from sqlalchemy import func, select

from pricewise.catalog.models import Product
from pricewise.orchestration.models import OrchestrationResult
from tests.orchestration.helpers import TEST_WORKFLOWS, logs, run, start, wait_until
from tests.support import signup

FAST_RETRIES = {"orchestration_workflow_modules": TEST_WORKFLOWS, "orchestration_retry_seconds": 0.05}


async def _rows(client, stmt):
    async with client.app.state.ctx.db.session() as s:
        return (await s.execute(stmt)).all()


async def test_a_failing_step_is_retried_with_backoff_and_the_run_goes_on(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True, **FAST_RETRIES)
    iid = (await start(client, "test_flaky", fail_times=2))["invocation_id"]
    got = await wait_until(client, iid)
    assert got["status"] == "completed", got
    flaky = got["steps"][0]
    assert flaky["step_name"] == "Flaky step" and flaky["attempts"] == 3 and flaky["step_output"] == {"calls": 3}
    retries = [x for x in await logs(client, iid) if x["level"] == "WARNING"]
    assert [x["message"] for x in retries] == [
        "Attempt 1 of 3 failed: RuntimeError: transient failure number 1; retrying in 0.05s",
        "Attempt 2 of 3 failed: RuntimeError: transient failure number 2; retrying in 0.1s"]
    assert [x["details"]["retry_in_seconds"] for x in retries] == [0.05, 0.1]  # doubled each time
    assert all(x["step_name"] == "Flaky step" for x in retries)


async def test_a_step_that_keeps_failing_fails_the_run_and_keeps_none_of_its_writes(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True, **FAST_RETRIES)
    iid = (await start(client, "test_broken"))["invocation_id"]
    got = await wait_until(client, iid)
    assert got["status"] == "failed" and got["error"] == "RuntimeError: the data source is down"
    assert [(s["step_name"], s["status"], s["attempts"]) for s in got["steps"]] == [
        ("First step", "completed", 1), ("Broken step", "failed", 3)]
    assert got["steps"][1]["step_output"] == {"error": "RuntimeError: the data source is down"}
    lines = await logs(client, iid)
    errors = [x["message"] for x in lines if x["level"] == "ERROR"]
    assert errors == ["Step failed after 3 attempt(s): RuntimeError: the data source is down",
                      "Run failed: RuntimeError: the data source is down"]
    # the product the failing step wrote went with its transaction, three times over
    assert (await _rows(client, select(func.count()).select_from(Product)))[0][0] == 0
    ui = (await client.get("/historical/runlogs", params={"invocation_id": iid})).json()
    assert ui["status"] == "failed" and ui["logs"][-1]["level"] == "ERROR"
    row = next(r for r in (await client.get("/historical/allruns")).json() if r["invocation_id"] == iid)
    assert row["status"] == "failed" and row["task_details"] == "RuntimeError: the data source is down"


async def test_pause_resume_and_cancel_take_effect_between_steps(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True, **FAST_RETRIES)
    iid = (await start(client, "test_slow", sleep_seconds=0.4))["invocation_id"]
    await wait_until(client, iid, steps_done=1)
    r = await client.post(f"/api/orchestration/runs/{iid}/pause")
    assert r.status_code == 200 and (r.json()["status"] == "paused" or r.json()["requested"] == "pause")
    paused = await wait_until(client, iid, {"paused"})
    done = paused["progress"]["completed_steps"]
    assert 1 <= done < 4 and len(paused["steps"]) == done
    assert (await client.get("/historical/allruns")).json()[0]["status"] == "paused"
    r = await client.post(f"/api/orchestration/runs/{iid}/resume")
    assert r.status_code == 200, r.text
    got = await wait_until(client, iid)
    assert got["status"] == "completed"
    assert [s["step_order"] for s in got["steps"]] == [0, 1, 2, 3]
    messages = [x["message"] for x in await logs(client, iid)]
    assert f"Run paused after {done} of 4 step(s)" in messages and "Run resumed: queued for a free slot" in messages
    assert any(m.startswith(f"Run resumed: {done} of 4") for m in messages)
    assert (await client.post(f"/api/orchestration/runs/{iid}/cancel")).status_code == 409

    iid = (await start(client, "test_slow", sleep_seconds=0.4))["invocation_id"]
    await wait_until(client, iid, steps_done=1)
    assert (await client.post(f"/api/orchestration/runs/{iid}/cancel")).status_code == 200
    assert (await client.post(f"/api/orchestration/runs/{iid}/resume")).status_code == 409  # being cancelled
    got = await wait_until(client, iid)
    assert got["status"] == "cancelled" and got["progress"]["completed_steps"] < 4
    ui = (await client.get("/historical/runlogs", params={"invocation_id": iid})).json()
    assert ui["status"] == "failed" and any(x["message"].startswith("Run cancelled") for x in ui["logs"])
    assert (await client.post(f"/api/orchestration/runs/{iid}/resume")).status_code == 409


async def test_the_timeout_fails_a_run_that_overruns(make_client):
    client = await make_client(auth_mode="local", embedded_jobs=True, orchestration_timeout_minutes=0.02,
                               **FAST_RETRIES)
    iid = (await start(client, "test_slow", sleep_seconds=5))["invocation_id"]
    got = await wait_until(client, iid)
    assert got["status"] == "failed"
    assert got["error"] == "timed out: the run exceeded ORCHESTRATION_TIMEOUT_MINUTES (0.02 min)"
    assert [(s["step_order"], s["status"], s["attempts"]) for s in got["steps"]] == [(0, "failed", 1)]
    assert (await _rows(client, select(func.count()).select_from(Product)))[0][0] == 0


@pytest.mark.parametrize("limit", ["max_concurrent_orchestrations", "max_concurrent_orchestrations_total"])
async def test_runs_beyond_the_limit_wait_queued_and_start_in_turn(make_client, limit):
    client = await make_client(auth_mode="local", embedded_jobs=True, **{limit: 1}, **FAST_RETRIES)
    first = await start(client, "test_slow", sleep_seconds=0.2)
    assert "started" in first["message"]
    later = [await start(client, "test_slow", sleep_seconds=0.2) for _ in range(2)]
    assert all("queued" in x["message"] for x in later)
    ids = [first["invocation_id"]] + [x["invocation_id"] for x in later]
    statuses = [(await run(client, i))["status"] for i in ids]
    assert statuses.count("running") <= 1 and statuses[1:] == ["queued", "queued"]
    ui = {r["invocation_id"]: r for r in (await client.get("/historical/allruns")).json()}
    assert ui[ids[2]]["status"] == "running" and ui[ids[2]]["task_details"].startswith("Waiting for a free slot")
    done = [await wait_until(client, i) for i in ids]
    assert [d["status"] for d in done] == ["completed"] * 3
    for before, after in itertools.pairwise(done):  # one at a time: each started after the last ended
        assert after["started_at"] >= before["completed_at"]


async def test_another_tenants_runs_are_not_found(make_client, mailbox):
    client = await make_client(rate_limit_requests_per_minute=100_000, orchestration_workflow_modules=TEST_WORKFLOWS)
    a = await signup(client, mailbox, "a@runs.example", name="A")
    b = await signup(client, mailbox, "b@runs.example", name="B")
    product = (await client.post("/product/create", json={"name": "P"}, headers=a.bearer)).json()["_id"]
    r = await client.post("/api/orchestration/start", headers=a.bearer, json={
        "workflow_type": "revenue_forecast", "product_id": product})
    assert r.status_code == 200, r.text
    iid = r.json()["invocation_id"]
    for method, path in (("GET", f"/api/orchestration/runs/{iid}"), ("GET", f"/api/orchestration/runs/{iid}/logs"),
                         ("POST", f"/api/orchestration/runs/{iid}/cancel"),
                         ("POST", f"/api/orchestration/runs/{iid}/pause"),
                         ("POST", f"/api/orchestration/runs/{iid}/resume"),
                         ("GET", f"/historical/runlogs?invocation_id={iid}")):
        r = await client.request(method, path, headers=b.bearer)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    assert (await client.get("/api/orchestration/runs", params={"invocation_id": iid}, headers=b.bearer)).json() == []
    assert (await client.get("/api/orchestration/runs", params={"product_id": product},
                             headers=b.bearer)).json() == []
    assert (await client.get("/historical/allruns", headers=b.bearer)).json() == []
    r = await client.post("/orchestration", headers=b.bearer, json={"workflow_type": "pricing_analysis",
                                                                    "product_id": product})
    assert r.status_code == 404
    # A's own run is untouched and readable by A
    mine = await client.get(f"/api/orchestration/runs/{iid}", headers=a.bearer)
    assert mine.status_code == 200 and mine.json()["requested"] is None and mine.json()["status"] == "running"
    # a viewer reads runs but cannot start or stop them
    key = (await client.post("/api-keys", json={"name": "ro", "role": "viewer"}, headers=a.bearer)).json()
    viewer = {"X-API-Key": key["api_key"]}
    assert (await client.get(f"/api/orchestration/runs/{iid}", headers=viewer)).status_code == 200
    assert (await client.post(f"/api/orchestration/runs/{iid}/cancel", headers=viewer)).status_code == 403
    assert (await client.post("/orchestration", headers=viewer, json={"workflow_type": "revenue_forecast",
                                                                      "product_id": product})).status_code == 403
    results = await _rows(client, select(func.count()).select_from(OrchestrationResult))
    assert results[0][0] == 0  # nothing ran: this app has no consumer
