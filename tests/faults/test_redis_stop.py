"""Redis killed while the API (its own process, Redis as event bus, job queue and rate-limit store)
and a worker run, then started again: requests keep succeeding, rate limits still hold (on each
process's memory), live events still reach the sockets of the process that emitted them, writes
whose job could not be queued are kept, and once Redis is back the same processes use it again:
shared counters, jobs run by the worker, its events on the sockets. The Redis is the test's own."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis
from websockets.asyncio.client import ClientConnection

from pricewise.core.events import CHANNEL
from tests.analytics.market import months_back
from tests.faults.load import BOUND
from tests.faults.services import RedisServer
from tests.orchestration.helpers import start_worker, stop_worker
from tests.orchestration.test_ws import api_server, open_ws, recv
from tests.support import Account, Mailbox, signup

LIMIT = 120  # requests per minute per tenant
RECOVERY = 5.0  # seconds after Redis is back within which each part uses it again
JOB_BOUND = 60.0  # the worker's first job waits for its start-up; only a bound against hanging


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis.log")
    try:
        server.start()
        yield server
    finally:
        server.kill()


def _iso(d: date) -> str:
    return f"{d.isoformat()}T00:00:00Z"


class Calls:
    """Every answer the test got, each bounded by BOUND: none may be a 5xx or missing."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http
        self.seen: list[tuple[str, int, float]] = []

    async def __call__(self, method: str, path: str, acct: Account, status: int | None = 200,
                       **kw: Any) -> httpx.Response:
        started = time.monotonic()
        try:
            r = await asyncio.wait_for(self.http.request(method, path, headers=acct.key_headers, **kw), BOUND)
        except TimeoutError:
            raise AssertionError(f"{method} {path}: no answer within {BOUND:g} s") from None
        self.seen.append((f"{method} {path}", r.status_code, time.monotonic() - started))
        assert r.status_code < 500 or r.status_code == status, f"{method} {path} -> {r.status_code}: {r.text}"
        if status is not None:
            assert r.status_code == status, f"{method} {path} -> {r.status_code}: {r.text}"
        return r


async def _event(ws: ClientConnection, key: str, timeout: float) -> dict[str, Any]:
    """The next revenue_data_updated frame whose data has `key` ("points": the request's own,
    "forecasts": the worker's forecast job)."""
    end = asyncio.get_running_loop().time() + timeout
    while (left := end - asyncio.get_running_loop().time()) > 0:
        try:
            frame = json.loads(await asyncio.wait_for(ws.recv(), left))
        except TimeoutError:
            break
        if frame["type"] == "revenue_data_updated" and key in frame["data"]:
            return frame
    raise AssertionError(f"no revenue_data_updated with {key!r} within {timeout:g} s")


async def _until(check: Any, since: float, what: str) -> float:
    """Seconds from `since` until `check()` is true (polled every 50 ms), at most RECOVERY."""
    while time.monotonic() - since < RECOVERY:
        if await check():
            return time.monotonic() - since
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: not within {RECOVERY:g} s")


async def test_redis_killed_and_restarted_under_the_api_and_a_worker(
        redis_server: RedisServer, sqlite_url: str, tmp_path: Path, mailbox: Mailbox):
    worker_log = tmp_path / "worker.log"
    worker = start_worker(sqlite_url, worker_log, redis_server.url)  # starts while the API does
    try:
        env = {"PRICEWISE_RATE_LIMIT_REQUESTS_PER_MINUTE": str(LIMIT)}
        async with api_server(sqlite_url, tmp_path, mailbox, redis_server.url, env) as (http, ws_url):
            call = Calls(http)
            a = await signup(http, mailbox, "owner@faults-redis-a.example", name="A")
            b = await signup(http, mailbox, "owner@faults-redis-b.example", name="B")
            product = (await call("POST", "/product/create", a, json={"name": "Spa"})).json()["_id"]
            seg = (await call("POST", "/customer-segment/create", a, json={
                "product": product, "customer_segment_name": "SMB", "customer_segment_uid": "smb"})).json()["_id"]
            plan = (await call("POST", "/pricing-plan/create", a, json={
                "product": product, "plan_name": "Basic", "unit_price": 49})).json()["_id"]
            months = months_back(15)

            async def save(ms: list[date]) -> httpx.Response:
                return await call("POST", "/api/analytics/segment-contribution", a, json={
                    "product": product, "customer_segment": seg, "pricing_plan": plan,
                    "revenue_ts_data": [{"date": _iso(m), "value": 10_000 + 100 * i} for i, m in enumerate(ms)],
                    "active_subscriptions": [{"date": _iso(m), "value": 200 + i} for i, m in enumerate(ms)]})

            async with open_ws(ws_url, additional_headers=a.key_headers) as ws:
                assert (await recv(ws))["type"] == "connected"
                # Redis up: the change's event, and the forecast job the worker ran, reach the socket.
                await save(months[:13])
                await _event(ws, "points", BOUND)
                await _event(ws, "forecasts", JOB_BOUND)

                redis_server.kill()
                killed_at = time.monotonic()
                ready = await call("GET", "/health/ready", a, status=503)
                assert ready.json()["checks"]["redis"] == "error", ready.text
                assert ready.json()["checks"]["database"] == "ok", ready.text
                # Writes still succeed, and the saved change's event reaches this process's socket.
                outage_products = []
                for i in range(10):
                    r = await call("POST", "/product/create", a, json={"name": f"Outage {i}"})
                    outage_products.append(r.json()["_id"])
                    r = await call("GET", "/product/list", a)
                    assert r.headers["X-RateLimit-Limit"] == str(LIMIT), r.headers
                await save(months[13:14])  # its forecast job cannot be queued: the data is kept
                assert (await _event(ws, "points", 2.0))["data"]["points"] == 2
                got = (await call("GET", "/api/analytics/segment-contribution", a,
                                  params={"segment_id": seg, "plan_id": plan})).json()
                assert len(got[0]["revenue_ts_data"]) == 14
                assert got[0]["forecast_details"]["revenue"]["status"] == "recomputing", got[0]["forecast_details"]
                # Limits hold on this process's memory: B gets its LIMIT requests of the minute, then
                # 429. (Across a minute boundary the memory counter weighs the previous minute and
                # may let one or two more through.)
                statuses = []
                while 429 not in statuses and len(statuses) < LIMIT + 3:
                    statuses.append((await call("GET", "/product/list", b, status=None)).status_code)
                assert LIMIT + 1 <= len(statuses) <= LIMIT + 3 and statuses[-1] == 429, statuses
                assert set(statuses[:-1]) == {200}, statuses
                refused = await call("GET", "/product/list", b, status=429)
                assert refused.json()["error"]["code"] == "rate_limited"
                assert int(refused.headers["Retry-After"]) >= 1
                outage = time.monotonic() - killed_at

                redis_server.start()
                back_at = time.monotonic()
                peek = aioredis.Redis.from_url(redis_server.url)
                try:
                    async def ready_again() -> bool:
                        return (await call("GET", "/health/ready", a, status=None)).status_code == 200

                    async def resubscribed() -> bool:  # the API's event relay listens again
                        return any(n for _, n in await peek.pubsub_numsub(CHANNEL))

                    async def shared_limits() -> bool:  # Redis came back empty: B's count starts over
                        return (await call("GET", "/product/list", b, status=None)).status_code == 200

                    ready_after = await _until(ready_again, back_at, "/health/ready answering 200")
                    relay_after = await _until(resubscribed, back_at, "the event relay subscribed again")
                    limits_after = await _until(shared_limits, back_at, "B's requests counted on Redis")
                finally:
                    await peek.aclose()
                # The worker takes jobs again and its events cross processes to the socket.
                saved_at = time.monotonic()
                await save(months[14:15])
                await _event(ws, "points", BOUND)
                await _event(ws, "forecasts", JOB_BOUND)
                job_after = time.monotonic() - saved_at

            # Nothing written during the outage is lost; the forecast covers every month.
            listed = {p["_id"] for p in (await call("GET", "/product/list", a)).json()}
            assert set(outage_products) <= listed
            got = (await call("GET", "/api/analytics/segment-contribution", a,
                              params={"segment_id": seg, "plan_id": plan})).json()
            assert [p["date"][:10] for p in got[0]["revenue_ts_data"]] == [m.isoformat() for m in months]
            assert got[0]["forecast_details"]["revenue"]["status"] == "current", got[0]["forecast_details"]
            assert worker.poll() is None, worker_log.read_text()[-3000:]
            print(f"\nRedis down {outage:.2f} s: {len(call.seen)} requests, slowest "
                  f"{max(s for _, _, s in call.seen):.2f} s; back: ready after {ready_after:.2f} s, event relay "
                  f"{relay_after:.2f} s, shared limits {limits_after:.2f} s, a job and its event {job_after:.2f} s")
    finally:
        stop_worker(worker)
