"""PostgreSQL restarted, then stopped for a while, under a steady load of authenticated reads and
writes: every answer is a success or a clean 503 (JSON error body, Retry-After), none waits past a
bound, the same app serves again within seconds of the server's return, and no write is half
done. The cluster is the test's own: the shared one other tests use is never touched."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from pricewise.app import create_app
from pricewise.core.migrate import upgrade
from tests.conftest import make_settings
from tests.faults.load import BOUND, Load, Outcome
from tests.faults.services import PgCluster
from tests.support import Mailbox, signup

CLUSTER = "pwfaults"
RECOVERY = 5.0  # seconds after the server is back within which requests succeed again
FAIL_FAST = 2.0  # seconds within which a request fails while the server is down (no pool wait)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PgCluster]:
    cluster = PgCluster(CLUSTER)  # no tools: the test errors and says which are missing
    try:
        cluster.create()
        upgrade(cluster.url)  # as `pricewise db upgrade` does
        yield cluster
    finally:
        cluster.drop()


def _price(w: int, i: int) -> float:
    """The price the write number i of load task w sets (stored as NUMERIC, exactly)."""
    return round(10 + w + i / 100, 2)


def _assert_clean(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        assert o.status != 0, f"a request got no answer within {BOUND:g} s: {o}"
        assert o.seconds <= BOUND, f"a request took {o.seconds:.2f} s: {o}"
        assert o.ok or o.status == 503, f"neither a success nor 503: {o}"
        if o.status == 503:
            assert isinstance(o.body, dict) and o.body["error"]["code"] == "database_unavailable", o
            assert o.body["error"]["message"] and o.body["request_id"], o
            assert int(o.headers["retry-after"]) >= 1, o


async def test_a_postgres_restart_and_stop_under_load(private_pg: PgCluster, tmp_path: Path, mailbox: Mailbox):
    settings = make_settings(private_pg.url, tmp_path, rate_limit_requests_per_minute=1_000_000,
                             smtp_host="127.0.0.1", smtp_port=mailbox.port)
    app = create_app(settings, auth_mode="required")
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    # an error the app does not handle is answered 500, as a server would, not raised in the test
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    try:
        acct = await signup(client, mailbox, "owner@faults-pg.example")
        auth = acct.key_headers
        r = await client.post("/product/create", json={"name": "Pool cover"}, headers=auth)
        assert r.status_code == 200, r.text
        product = r.json()["_id"]

        async def op(w: int, i: int) -> tuple[str, str, httpx.Response]:
            if i % 3 == 0:  # a plan and its first price: two rows (and the audit) in one transaction
                name = f"plan-{w}-{i}"
                return "write", name, await client.post("/pricing-plan/create", headers=auth, json={
                    "product": product, "plan_name": name, "unit_price": _price(w, i)})
            if i % 3 == 1:
                return "read", "", await client.get("/pricing-plan/list", params={"product_id": product},
                                                     headers=auth)
            return "read", "", await client.get("/product/read", params={"id": product}, headers=auth)

        load = Load(op, workers=4)
        load.start()
        try:
            await asyncio.sleep(0.5)
            restart_at = time.monotonic()
            await asyncio.to_thread(private_pg.ctl, "restart")
            restarted_at = time.monotonic()
            restart_recovery = await load.until_ok_since(restarted_at, RECOVERY)
            await asyncio.sleep(0.5)
            stop_at = time.monotonic()
            await asyncio.to_thread(private_pg.ctl, "stop")
            stopped_at = time.monotonic()
            # One request of our own while it is down, whatever the load's tasks are doing.
            probe = await asyncio.wait_for(client.get("/product/read", params={"id": product}, headers=auth),
                                           FAIL_FAST)
            await asyncio.sleep(1.5)
            start_at = time.monotonic()
            await asyncio.to_thread(private_pg.ctl, "start")
            back_at = time.monotonic()
            recovery = await load.until_ok_since(back_at, RECOVERY)
            await asyncio.sleep(2.0)  # then a steady stretch: everything must succeed again
        finally:
            await load.stop()
        outcomes = load.outcomes
        _assert_clean(outcomes)

        # While the server was down, requests failed (the fault was real), and quickly.
        assert probe.status_code == 503 and probe.json()["error"]["code"] == "database_unavailable", probe.text
        down = load.between(stopped_at, start_at)
        assert all(o.status == 503 and o.seconds < FAIL_FAST for o in down), [str(o) for o in down][:5]
        # Once it was back: successes within RECOVERY, then nothing but successes, same app.
        after = load.since(back_at + recovery)
        assert len(after) >= 10 and all(o.ok for o in after), [str(o) for o in after if not o.ok][:5]

        # No half-done writes: every acknowledged plan is there with its price history; a plan
        # whose request failed is either absent or there whole.
        r = await client.get("/pricing-plan/list", params={"product_id": product, "limit": 1000}, headers=auth)
        assert r.status_code == 200, r.text
        stored: dict[str, dict[str, Any]] = {p["plan_name"]: p for p in r.json()}
        writes = [o for o in outcomes if o.op == "write"]
        assert len(stored) == len(r.json()), "a plan was stored twice"
        assert set(stored) <= {o.key for o in writes}
        failed_present = 0
        for o in writes:
            if o.ok:
                assert o.key in stored, f"acknowledged but missing: {o}"
            elif o.key not in stored:
                continue
            else:
                failed_present += 1
            w, i = (int(n) for n in o.key.split("-")[1:])
            plan = stored[o.key]
            assert plan["unit_price"] == _price(w, i), (plan, o)
            history = await client.get("/pricing-plan/price-history", params={"id": plan["_id"]}, headers=auth)
            assert history.status_code == 200, history.text
            assert [h["unit_price"] for h in history.json()] == [plan["unit_price"]], o

        print(f"\n{len(outcomes)} requests, {sum(o.ok for o in outcomes)} ok, "
              f"{sum(o.status == 503 for o in outcomes)} x 503 ({failed_present} of those writes committed); "
              f"slowest {max(o.seconds for o in outcomes):.2f} s; restart took {restarted_at - restart_at:.2f} s, "
              f"first success {restart_recovery:.2f} s after it; stop took {stopped_at - stop_at:.2f} s, "
              f"start {back_at - start_at:.2f} s, first success {recovery:.2f} s after it")
    finally:
        await client.aclose()
        await lifespan.__aexit__(None, None, None)
