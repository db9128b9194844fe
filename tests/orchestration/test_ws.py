"""/ws over real sockets: the app behind uvicorn on a loopback port, clients of the `websockets`
library. The acceptance test runs the API in its own process and publishes through Redis from
another one, as an API process and a worker do in production."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from pricewise.core.db import Database, commit
from pricewise.core.events import Event
from pricewise.orchestration.models import OrchestrationRun
from tests.conftest import REDIS_UP, REDIS_URL, SECRET_KEY
from tests.support import LoopbackServers, Mailbox, free_port, signup

GUARD = 20.0  # only so that a broken server fails the test instead of hanging it


async def recv(ws: ClientConnection, skip: tuple[str, ...] = ("ping",)) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), GUARD))
        if frame["type"] not in skip:
            return frame


async def closed_with(ws: ClientConnection, answer_pings: bool = False) -> tuple[int, str]:
    with pytest.raises(ConnectionClosed) as info:
        while True:
            frame = await recv(ws, skip=())
            if frame["type"] == "ping" and answer_pings:
                await ws.send(json.dumps({"type": "pong"}))
    assert info.value.rcvd is not None, "closed without a close frame"
    return info.value.rcvd.code, info.value.rcvd.reason


async def send(ws: ClientConnection, type_: str, **data: Any) -> dict[str, Any]:
    await ws.send(json.dumps({"type": type_, "data": data}))
    return await recv(ws)


def open_ws(url: str, **kw: Any) -> Any:
    kw.setdefault("proxy", None)
    kw.setdefault("open_timeout", GUARD)
    return connect(url, **kw)


@pytest.fixture
async def served(make_client: Callable[..., Awaitable[httpx.AsyncClient]]) -> AsyncIterator[Any]:
    """served(**make_client args) -> (http client, ws url): the test's app (its lifespan already
    running in this loop) behind a real uvicorn server on a free loopback port."""
    servers = LoopbackServers()

    async def factory(**kw: Any) -> tuple[httpx.AsyncClient, str]:
        client = await make_client(**kw)
        port = await servers.serve(client.app)  # type: ignore[attr-defined]
        return client, f"ws://127.0.0.1:{port}/ws"

    yield factory
    await servers.close()


async def add_run(db: Database, tenant_id: str, product_id: str | None = None) -> str:
    invocation = str(uuid.uuid4())
    async with db.session() as s:
        s.add(OrchestrationRun(tenant_id=tenant_id, invocation_id=invocation, workflow_type="pricing_analysis",
                               product_id=product_id, status="running", total_steps=3, completed_steps=1,
                               current_step="forecast"))
        await commit(s)
    return invocation


async def product(client: httpx.AsyncClient, name: str, headers: dict[str, str] | None = None) -> str:
    r = await client.post("/product/create", json={"name": name}, headers=headers)
    assert r.status_code == 200, r.text
    pid: str = r.json()["_id"]
    return pid


def run_event(tenant: str, type_: str, invocation: str, product_id: str | None = None, **data: Any) -> Event:
    return Event(tenant, type_, {"invocation_id": invocation, "product_id": product_id, "run_id": "r", **data})


# --- in one process --------------------------------------------------------------------------


async def test_link_changes_reach_the_tenants_sockets_only(served, mailbox: Mailbox):
    client, url = await served(auth_mode="local")
    ctx = client.app.state.ctx
    other = await signup(client, mailbox, "other@example.com")
    async with open_ws(url) as mine, open_ws(f"{url}?token={other.access_token}") as theirs:
        hello = await recv(mine)
        assert hello["type"] == "connected" and hello["data"]["tenant_id"] == ctx.local_principal.tenant_id
        assert (await recv(theirs))["data"]["tenant_id"] == other.tenant_id
        seg = (await client.post("/customer-segment/create", json={"customer_segment_name": "S",
                                                                   "customer_segment_uid": "S"})).json()
        plan = (await client.post("/pricing-plan/create", json={"plan_name": "P", "unit_price": 1})).json()
        link = (await client.post("/customer-segment/pricing-plan/link/create", json={
            "customer_segment_id": seg["_id"], "pricing_plan_id": plan["_id"],
            "connection_type": "finalized"})).json()
        got = await recv(mine)
        assert got["type"] == "canvas_connection_updated" and got["timestamp"].endswith("Z")
        assert got["data"]["action"] == "created" and got["data"]["link"]["_id"] == link["_id"]
        # Each socket's next event is its own tenant's: neither link change crossed over.
        h = other.key_headers
        seg2 = (await client.post("/customer-segment/create", headers=h, json={
            "customer_segment_name": "S", "customer_segment_uid": "S"})).json()
        plan2 = (await client.post("/pricing-plan/create", json={"plan_name": "P", "unit_price": 1},
                                   headers=h)).json()
        link2 = (await client.post("/customer-segment/pricing-plan/link/create", headers=h, json={
            "customer_segment_id": seg2["_id"], "pricing_plan_id": plan2["_id"],
            "connection_type": "finalized"})).json()
        await client.request("DELETE", "/customer-segment/pricing-plan/link/delete", json={"id": link["_id"]})
        theirs_first = await recv(theirs)
        assert theirs_first["data"]["action"] == "created" and theirs_first["data"]["link"]["_id"] == link2["_id"]
        mine_next = await recv(mine)
        assert mine_next["data"]["action"] == "deleted" and mine_next["data"]["link"]["_id"] == link["_id"]


async def test_local_mode_refuses_foreign_pages_and_hosts(served):
    _, url = await served(auth_mode="local")
    for origin in ("http://localhost:5173", "http://127.0.0.1:3000", "http://localhost:3000"):
        async with open_ws(url, origin=origin) as ws:
            assert (await recv(ws))["type"] == "connected"
    for origin in ("https://evil.example", "http://localhost.evil.example", "null"):
        async with open_ws(url, origin=origin) as ws:
            code, reason = await closed_with(ws)
            assert code == 4403 and "origin" in reason
    # A rebound DNS name: the socket reaches this machine, the Host header names another site.
    port = int(url.split(":")[2].split("/")[0])
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setblocking(False)
    async with open_ws(f"ws://rebound.example:{port}/ws", sock=sock) as ws:
        code, reason = await closed_with(ws)
        assert code == 4403 and "localhost" in reason


async def test_product_subscription_narrows_tenant_events(served):
    client, url = await served(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    p1, p2 = await product(client, "One"), await product(client, "Two")
    async with open_ws(url) as narrow, open_ws(url) as wide:
        await recv(narrow), await recv(wide)
        ack = await send(narrow, "subscribe_product_updates", product_id=p1)
        assert ack == {"type": "subscribed", "data": {"product_id": p1}}
        for pid in (p2, p1, None):
            await ctx.events.publish(Event(tenant, "vector_store_updated", {"product_id": pid, "chunks": 1}))
        assert [(await recv(narrow))["data"]["product_id"] for _ in range(2)] == [p1, None]
        assert [(await recv(wide))["data"]["product_id"] for _ in range(3)] == [p2, p1, None]
        assert await send(narrow, "unsubscribe_product_updates", product_id=p1) == {
            "type": "unsubscribed", "data": {"product_id": p1}}
        await ctx.events.publish(Event(tenant, "alert_created", {"product_id": p2, "alert_id": "a"}))
        assert (await recv(narrow))["data"]["product_id"] == p2


async def test_orchestration_events_reach_subscribers_of_the_run_or_its_product(served):
    client, url = await served(auth_mode="local")
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    p1 = await product(client, "One")
    run1, run2 = await add_run(ctx.db, tenant, p1), await add_run(ctx.db, tenant)
    async with open_ws(url) as by_run, open_ws(url) as by_product, open_ws(url) as idle:
        for ws in (by_run, by_product, idle):
            await recv(ws)
        ack = await send(by_run, "subscribe_orchestration", invocation_id=run1)
        assert ack["type"] == "subscribed" and ack["data"]["invocation_id"] == run1
        assert ack["data"]["product_id"] == p1 and ack["data"]["status"] == "running"
        assert ack["data"]["progress"] == {"completed_steps": 1, "total_steps": 3, "current_step": "forecast"}
        assert (await send(by_product, "subscribe_product_updates", product_id=p1))["type"] == "subscribed"
        for e in (run_event(tenant, "orchestration_log", run2, message="other run"),
                  run_event(tenant, "orchestration_step_completed", run1, p1, step_name="forecast"),
                  run_event(tenant, "orchestration_updated", run1, p1, status="completed"),
                  Event(tenant, "ai_analysis_completed", {"kind": "recommendation"})):
            await ctx.events.publish(e)
        expected = ["orchestration_step_completed", "orchestration_updated", "ai_analysis_completed"]
        assert [(await recv(by_run))["type"] for _ in range(3)] == expected
        assert [(await recv(by_product))["type"] for _ in range(3)] == expected
        assert (await recv(idle))["type"] == "ai_analysis_completed"  # no run events unasked
        assert (await send(by_run, "unsubscribe_orchestration", invocation_id=run1))["type"] == "unsubscribed"
        await ctx.events.publish(run_event(tenant, "orchestration_log", run1, p1, message="after"))
        await ctx.events.publish(Event(tenant, "revenue_data_updated", {"points": 1}))
        assert (await recv(by_run))["type"] == "revenue_data_updated"


async def test_bad_messages_get_an_error_and_the_socket_lives_on(served, mailbox: Mailbox):
    client, url = await served(auth_mode="local")
    ctx = client.app.state.ctx
    other = await signup(client, mailbox, "other@example.com")
    foreign_product = await product(client, "Theirs", other.key_headers)
    foreign_run = await add_run(ctx.db, other.tenant_id)
    async with open_ws(url) as ws:
        await recv(ws)
        cases: list[tuple[str | bytes, str, str | None]] = [
            ("{not json", "invalid JSON", "frame"),
            ("[" * 60_000, "invalid JSON", "frame"),
            (json.dumps({"type": "ping", "data": {"pad": "x" * 70_000}}), "over 64 KB", "frame"),
            (b"\x00\x01", "text frames", "frame"),
            ("[1, 2]", "JSON object", "type"),
            (json.dumps({"type": "subscribe_everything"}), "unknown message type", "type"),
            (json.dumps({"type": "subscribe_orchestration", "data": {}}), "invocation_id", "invocation_id"),
            (json.dumps({"type": "subscribe_orchestration", "data": {"invocation_id": "../x"}}), "invocation_id",
             "invocation_id"),
            (json.dumps({"type": "subscribe_orchestration", "data": {"invocation_id": foreign_run}}),
             f"orchestration run {foreign_run} not found", None),
            (json.dumps({"type": "subscribe_product_updates", "data": {"product_id": "nope"}}), "product id",
             "product_id"),
            (json.dumps({"type": "subscribe_product_updates", "data": {"product_id": foreign_product}}),
             f"product {foreign_product} not found", None),
            (json.dumps({"type": "subscribe_product_updates", "data": "p"}), "must be an object", "data"),
            (json.dumps({"type": "auth", "data": {"token": other.api_key}}), "local workspace", "type"),
        ]
        for raw, message, field in cases:
            await ws.send(raw)
            err = await recv(ws)
            assert err["type"] == "error" and message in err["data"]["message"], (raw[:80], err)
            assert err["data"].get("field") == field, err
        assert await send(ws, "ping") == {"type": "pong"}
        # the flat form {"type", "invocation_id"} is read as the data
        mine = await add_run(ctx.db, ctx.local_principal.tenant_id)
        await ws.send(json.dumps({"type": "subscribe_orchestration", "invocation_id": mine}))
        assert (await recv(ws))["type"] == "subscribed"
        await ctx.events.publish(run_event(ctx.local_principal.tenant_id, "orchestration_log", mine, message="m"))
        assert (await recv(ws))["data"]["message"] == "m"


async def test_required_mode_credentials(served, mailbox: Mailbox):
    client, url = await served(auth_mode="required")
    acct = await signup(client, mailbox, "owner@example.com")
    good = [
        {"uri": f"{url}?token={acct.access_token}"},
        {"uri": f"{url}?token={acct.api_key}"},
        {"uri": url, "additional_headers": {"Authorization": f"Bearer {acct.access_token}"}},
        {"uri": url, "additional_headers": {"X-API-Key": acct.api_key}},
        {"uri": url, "first": {"type": "auth", "data": {"token": acct.access_token}}},
        {"uri": url, "first": {"type": "auth", "data": {"token": acct.api_key}}},
        {"uri": f"{url}?token={acct.api_key}", "origin": "http://localhost:3000"},
    ]
    for case in good:
        async with open_ws(case["uri"], additional_headers=case.get("additional_headers"),
                           origin=case.get("origin")) as ws:
            if "first" in case:
                await ws.send(json.dumps(case["first"]))
            hello = await recv(ws)
            assert hello["type"] == "connected" and hello["data"]["tenant_id"] == acct.tenant_id, case
    forged = acct.access_token[:-4] + ("AAAA" if not acct.access_token.endswith("AAAA") else "BBBB")
    bad = [
        ({"uri": f"{url}?token=garbage"}, "invalid or expired token"),
        ({"uri": f"{url}?token={forged}"}, "invalid or expired token"),
        ({"uri": f"{url}?token=efofx_{'0' * 40}"}, "invalid credentials"),
        ({"uri": url, "additional_headers": {"Authorization": "Basic abc"}}, "Bearer"),
        ({"uri": url, "first": {"type": "auth", "data": {"token": f"efofx_{'1' * 40}"}}}, "invalid credentials"),
        ({"uri": url, "first": {"type": "auth", "data": {"token": "not-a-jwt"}}}, "invalid or expired token"),
        ({"uri": url, "first": {"type": "subscribe_orchestration", "data": {"invocation_id": "x"}}},
         "credentials required"),
        ({"uri": url, "first": {"type": "auth", "data": {}}}, "credentials required"),
    ]
    for case, reason in bad:
        async with open_ws(case["uri"], additional_headers=case.get("additional_headers")) as ws:
            if "first" in case:
                await ws.send(json.dumps(case["first"]))
            code, said = await closed_with(ws)
            assert code == 4401 and reason in said, (case, said)
    async with open_ws(f"{url}?token={acct.api_key}", origin="http://localhost:5173") as ws:
        code, said = await closed_with(ws)  # a loopback page is not trusted outside local mode
        assert code == 4403 and "origin" in said


async def test_heartbeats_idle_sockets_and_revoked_keys(served, mailbox: Mailbox):
    client, url = await served(auth_mode="required", ws_heartbeat_seconds=0.2)
    acct = await signup(client, mailbox, "owner@example.com")
    async with open_ws(url) as silent_stranger:  # never authenticates
        code, said = await closed_with(silent_stranger)
        assert code == 4401 and "no credentials within 0.2 s" in said
    key = (await client.post("/api-keys", json={"name": "ws", "role": "viewer"}, headers=acct.bearer)).json()
    async with (open_ws(f"{url}?token={acct.access_token}") as lively,
                open_ws(f"{url}?token={acct.access_token}") as silent,
                open_ws(f"{url}?token={key['api_key']}") as revoked):
        for ws in (lively, silent, revoked):
            assert (await recv(ws))["type"] == "connected"
        r = await client.delete(f"/api-keys/{key['id']}", headers=acct.bearer)
        assert r.status_code == 200, r.text
        code, said = await closed_with(revoked, answer_pings=True)
        assert code == 4401 and "revoked" in said
        for _ in range(8):  # well past three heartbeats: a client that answers stays
            assert await recv(lively, skip=()) == {"type": "ping"}
            await lively.send(json.dumps({"type": "pong"}))
        code, said = await closed_with(silent)
        assert code == 4408 and "idle" in said
        assert await send(lively, "ping") == {"type": "pong"}


async def test_a_client_that_never_reads_does_not_hold_up_the_others(served):
    client, url = await served(auth_mode="local", ws_queue_size=32)
    ctx = client.app.state.ctx
    tenant = ctx.local_principal.tenant_id
    stuck_sock = socket.socket()
    stuck_sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    stuck_sock.connect(("127.0.0.1", int(url.split(":")[2].split("/")[0])))
    stuck_sock.setblocking(False)
    total, batch = 640, 16
    pad = base64.b64encode(os.urandom(32 * 1024)).decode()  # incompressible: fills the pipe
    async with (open_ws(url, sock=stuck_sock, max_queue=1, ping_interval=None) as stuck, open_ws(url) as fast):
        await recv(stuck), await recv(fast)
        for start in range(0, total, batch):  # the fast client keeps pace; the stuck one reads nothing
            for i in range(start, start + batch):
                await ctx.events.publish(Event(tenant, "revenue_data_updated", {"seq": i, "pad": pad}))
            assert [(await recv(fast))["data"]["seq"] for _ in range(batch)] == list(range(start, start + batch))
        # Now the stuck client reads: the oldest events still in flight, then how many it lost,
        # then the most recent ones. Nothing is lost without being counted.
        seen: list[int] = []
        dropped = 0
        while not seen or seen[-1] != total - 1:
            frame = await recv(stuck)
            if frame["type"] == "dropped":
                dropped += frame["data"]["count"]
            else:
                seen.append(frame["data"]["seq"])
        assert seen == sorted(seen) and dropped > 0
        assert len(seen) + dropped == total


# --- across processes: the API in one, the events published from another, through Redis --------

PUBLISHER = """
import asyncio, json, sys
from pricewise.core.events import Event, EventBus

async def main() -> None:
    bus = EventBus(sys.argv[1])
    await bus.publish_all([Event(t, k, d) for t, k, d in json.load(sys.stdin)])
    await bus.stop()

asyncio.run(main())
"""


@contextlib.asynccontextmanager
async def api_server(db_url: str, tmp_path: Path, mailbox: Mailbox, redis_url: str,
                     env: dict[str, str] | None = None) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """The API as `uvicorn --factory` in its own process with Redis as its event bus and job queue
    -> (http client, ws url). `env`: more settings of that process."""
    port = free_port()
    full = {**os.environ, "PRICEWISE_DATABASE_URL": db_url, "PRICEWISE_REDIS_URL": redis_url,
            "PRICEWISE_AUTH_MODE": "required", "PRICEWISE_SECRET_KEY": SECRET_KEY,
            "PRICEWISE_VAR_DIR": str(tmp_path), "PRICEWISE_PUBLIC_URL": "http://testserver",
            "PRICEWISE_SMTP_HOST": "127.0.0.1", "PRICEWISE_SMTP_PORT": str(mailbox.port),
            "PRICEWISE_LOG_LEVEL": "WARNING", **(env or {})}
    log = (tmp_path / "api.log").open("w")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "uvicorn", "pricewise.app:create_app_from_env", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", env=full, stdout=log, stderr=log)
    http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", trust_env=False)
    try:
        for _ in range(2400):  # it imports, then its lifespan subscribes to Redis; a loaded machine is slow
            if proc.returncode is not None:
                raise AssertionError(f"the API exited: {(tmp_path / 'api.log').read_text()[-3000:]}")
            try:
                if (await http.get("/health/ready")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the API did not come up: {(tmp_path / 'api.log').read_text()[-3000:]}")
        yield http, f"ws://127.0.0.1:{port}/ws"
    finally:
        await http.aclose()
        proc.terminate()
        await proc.wait()
        log.close()


@pytest.fixture
async def api_process(db_url: str, tmp_path: Path,
                      mailbox: Mailbox) -> AsyncIterator[tuple[httpx.AsyncClient, str, str]]:
    """The API in its own process on Redis -> (http client, ws url, redis url)."""
    if not REDIS_UP:
        pytest.skip("Redis is unreachable at 127.0.0.1:6379")
    async with api_server(db_url, tmp_path, mailbox, REDIS_URL) as (http, url):
        yield http, url, REDIS_URL


async def publish_elsewhere(redis_url: str, events: list[tuple[str, str, dict[str, Any]]]) -> None:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", PUBLISHER, redis_url,
                                                stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.communicate(json.dumps(events).encode())
    assert proc.returncode == 0, err.decode()


async def test_run_events_published_by_another_process_reach_the_subscriber_in_order(
        api_process, db_url: str, mailbox: Mailbox):
    http, url, redis_url = api_process
    a = await signup(http, mailbox, "a@example.com", name="A")
    b = await signup(http, mailbox, "b@example.com", name="B")
    db = Database(db_url)
    try:
        run_a, run_b = await add_run(db, a.tenant_id), await add_run(db, b.tenant_id)
    finally:
        await db.dispose()

    def ev(tenant: str, type_: str, run: str, **data: Any) -> tuple[str, str, dict[str, Any]]:
        return tenant, type_, {"invocation_id": run, "product_id": None, "run_id": "r", **data}

    steps = ["gap_diagnosis", "forecast", "report"]
    sequence = [ev(a.tenant_id, "orchestration_updated", run_a, status="running",
                   progress={"completed_steps": 0, "total_steps": 3, "current_step": steps[0]})]
    for order, step in enumerate(steps, 1):
        sequence.append(ev(a.tenant_id, "orchestration_log", run_a, timestamp="2026-01-01T00:00:00Z",
                           level="INFO", message=f"{step} started", step_name=step))
        sequence.append(ev(a.tenant_id, "orchestration_step_completed", run_a, step_name=step,
                           step_order=order, status="completed", duration_ms=10 * order))
    sequence.append(ev(a.tenant_id, "orchestration_updated", run_a, status="completed",
                       progress={"completed_steps": 3, "total_steps": 3, "current_step": None}))
    fence = ev(b.tenant_id, "orchestration_log", run_b, level="INFO", message="b's own", step_name=None)

    async with (open_ws(f"{url}?token={a.access_token}") as sub_a,
                open_ws(url, additional_headers={"X-API-Key": b.api_key}) as sub_b):
        assert (await recv(sub_a))["data"]["tenant_id"] == a.tenant_id
        assert (await recv(sub_b))["data"]["tenant_id"] == b.tenant_id
        assert (await send(sub_a, "subscribe_orchestration", invocation_id=run_a))["type"] == "subscribed"
        refused = await send(sub_b, "subscribe_orchestration", invocation_id=run_a)
        assert refused["type"] == "error" and "not found" in refused["data"]["message"]
        assert (await send(sub_b, "subscribe_orchestration", invocation_id=run_b))["type"] == "subscribed"
        await publish_elsewhere(redis_url, [*sequence, fence])
        got = [await recv(sub_a) for _ in sequence]
        assert [(g["type"], g["data"]) for g in got] == [(t, d) for _, t, d in sequence]
        assert (await recv(sub_b))["data"]["message"] == "b's own"  # and nothing of A's before it
