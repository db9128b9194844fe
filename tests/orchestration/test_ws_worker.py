"""The acceptance test of live updates across processes: the API in one process, a real
`pricewise worker` in another, both on one Redis (job queue and event bus). A client subscribed to
a run receives its step and log events in order as the worker runs it; a client of another tenant
receives none of them.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from websockets.asyncio.client import ClientConnection

from pricewise.core.db import Database, commit
from pricewise.orchestration.models import OrchestrationRun
from tests.conftest import REDIS_UP
from tests.orchestration.helpers import ROOT, TEST_WORKFLOWS, start_worker, stop_worker
from tests.orchestration.test_ws import api_server, open_ws, publish_elsewhere, recv, send
from tests.support import Mailbox, signup

# The job queue and rate-limit counters of this test alone: other tests use 13 and 15, the
# orchestration bench 12. (Redis pub/sub channels span databases, but every event names its
# tenant, and these tenants are new.)
REDIS_DB = "redis://127.0.0.1:6379/11"
STEPS = 4  # the test_slow workflow
RUN_FRAMES = {"orchestration_updated", "orchestration_log", "orchestration_step_completed"}
BOUND = 600.0  # seconds; only so that a broken worker fails the test instead of hanging it


async def _paused_run(db_url: str, tenant_id: str) -> str:
    """A run no worker picks up (paused): the other tenant's own subscription, for the fence."""
    invocation = str(uuid.uuid4())
    db = Database(db_url)
    try:
        async with db.session() as s:
            s.add(OrchestrationRun(tenant_id=tenant_id, invocation_id=invocation, workflow_type="test_slow",
                                   status="paused", total_steps=STEPS, completed_steps=0, current_step="Slow step 1"))
            await commit(s)
    finally:
        await db.dispose()
    return invocation


async def _until_final(ws: ClientConnection, worker: Any, log: Path) -> list[dict[str, Any]]:
    """Every frame up to and including the run's final status. Waits a second at a time and
    checks the worker is alive in between: a slow start is waited out, a dead worker is reported."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + BOUND
    while loop.time() < end:
        assert worker.poll() is None, f"the worker exited; its log ends:\n{log.read_text()[-3000:]}"
        try:
            raw = await asyncio.wait_for(ws.recv(), 1.0)  # cancelling recv loses nothing
        except TimeoutError:
            continue
        frame: dict[str, Any] = json.loads(raw)
        if frame["type"] in ("ping", "pong"):
            continue
        frames.append(frame)
        if frame["type"] == "orchestration_updated" and frame["data"]["status"] in ("completed", "failed",
                                                                                  "cancelled"):
            return frames
    raise AssertionError(f"no final status after {BOUND:g} s; got {[f['type'] for f in frames]}; "
                         f"the worker's log ends:\n{log.read_text()[-3000:]}")


def _at(frame: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(frame["data"]["timestamp"].replace("Z", "+00:00"))


@pytest.mark.skipif(not REDIS_UP, reason="Redis is unreachable at 127.0.0.1:6379")
async def test_a_run_driven_by_a_worker_process_reaches_its_subscriber_and_nobody_else(
        db_url: str, tmp_path: Path, mailbox: Mailbox):
    redis.Redis.from_url(REDIS_DB).flushdb()  # nothing queued by an earlier run of this test
    env = {"PRICEWISE_ORCHESTRATION_WORKFLOW_MODULES": TEST_WORKFLOWS, "PYTHONPATH": str(ROOT),
           # heartbeats far apart: a socket read only at the end must not be closed as idle while a
           # loaded machine starts the worker
           "PRICEWISE_WS_HEARTBEAT_SECONDS": "600"}
    async with api_server(db_url, tmp_path, mailbox, REDIS_DB, env) as (http, url):
        a = await signup(http, mailbox, "a@example.com", name="A")
        b = await signup(http, mailbox, "b@example.com", name="B")
        # The run starts through the API: admitted, its first step queued on Redis, nobody consuming.
        r = await http.post("/orchestration", headers=a.bearer, json={
            "workflow_type": "test_slow", "parameters": {"sleep_seconds": 0.05}})
        assert r.status_code == 200, r.text
        iid = r.json()["invocation_id"]
        run_b = await _paused_run(db_url, b.tenant_id)

        worker = None
        log = tmp_path / "worker.log"
        async with (open_ws(f"{url}?token={a.access_token}") as sub_a,
                    open_ws(url, additional_headers={"X-API-Key": b.api_key}) as sub_b):
            assert (await recv(sub_a))["data"]["tenant_id"] == a.tenant_id
            assert (await recv(sub_b))["data"]["tenant_id"] == b.tenant_id
            ack = await send(sub_a, "subscribe_orchestration", invocation_id=iid)
            assert ack["type"] == "subscribed" and ack["data"]["status"] == "running"
            assert ack["data"]["progress"]["completed_steps"] == 0  # subscribed before any step ran
            refused = await send(sub_b, "subscribe_orchestration", invocation_id=iid)
            assert refused["type"] == "error" and "not found" in refused["data"]["message"]
            assert (await send(sub_b, "subscribe_orchestration", invocation_id=run_b))["type"] == "subscribed"

            try:
                worker = start_worker(db_url, log, REDIS_DB)  # now the queue is consumed
                got = await _until_final(sub_a, worker, log)
            finally:
                if worker is not None:
                    stop_worker(worker)

            assert {f["type"] for f in got} <= RUN_FRAMES
            assert all(f["data"]["invocation_id"] == iid for f in got)
            final = got[-1]
            assert final["data"]["status"] == "completed", log.read_text()[-3000:]
            assert final["data"]["progress"] == {"completed_steps": STEPS, "total_steps": STEPS,
                                                 "current_step": None}
            # each step exactly once, in step order
            done = [f["data"] for f in got if f["type"] == "orchestration_step_completed"]
            assert [(d["step_order"], d["step_name"], d["status"]) for d in done] == [
                (i, f"Slow step {i + 1}", "completed") for i in range(STEPS)]
            # progress never goes back
            progress = [f["data"]["progress"]["completed_steps"] for f in got if f["type"] == "orchestration_updated"]
            assert progress == sorted(progress) and progress[-1] == STEPS
            # the log lines in time order, and the same as the run's stored log from where the
            # subscription began: every line the worker wrote, nothing else
            lines = [f for f in got if f["type"] == "orchestration_log"]
            assert [_at(f) for f in lines] == sorted(_at(f) for f in lines)
            heard = [(f["data"]["message"], f["data"]["step_name"]) for f in lines]
            stored = await http.get(f"/api/orchestration/runs/{iid}/logs", headers=a.bearer)
            assert stored.status_code == 200, stored.text
            kept = [(x["message"], x["step_name"]) for x in stored.json()]
            assert heard and kept[-len(heard):] == heard
            worker_lines = [m for m, _ in heard if m.startswith(("Step completed", "Run completed"))]
            assert [m.split(" in ")[0] for m in worker_lines] == [
                *(f"Step completed: Slow step {i + 1}" for i in range(STEPS)), f"Run completed: {STEPS} step(s)"]

            # The other tenant: its own event, published after all of A's, is the first it hears.
            await publish_elsewhere(REDIS_DB, [(b.tenant_id, "orchestration_log", {
                "invocation_id": run_b, "product_id": None, "run_id": "r", "level": "INFO",
                "message": "b's own", "step_name": None})])
            fence = await recv(sub_b)
            assert fence["type"] == "orchestration_log" and fence["data"]["message"] == "b's own"
