"""GET /envs/get reports what is configured and reachable: Redis and the job queue as they are
(probed at most every couple of seconds), the LLM by the tenant's key rule."""

from __future__ import annotations

import asyncio

from pricewise.catalog import workspace
from tests.conftest import REDIS_URL
from tests.support import free_port


async def _status(client) -> dict[str, str]:
    r = await client.get("/envs/get", headers={"Host": "localhost"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["database_connected"] is True
    return body["services_status"]


async def test_embedded_set_up_reports_no_redis_and_a_working_queue(make_client):
    status = await _status(await make_client(auth_mode="local"))
    assert status["database"] == "running"
    assert status["redis"] == "stopped"  # not configured
    assert status["job_queue"] == "running"
    assert status["llm"] == "stopped"  # no key anywhere: template narratives


async def test_redis_reachable_or_not(make_client, monkeypatch):
    monkeypatch.setattr(workspace, "PROBE_SECONDS", 0.2)
    up = await make_client(auth_mode="local", redis_url=REDIS_URL)
    assert (await _status(up))["redis"] == "running"
    down = await make_client(auth_mode="local", redis_url=f"redis://127.0.0.1:{free_port()}/0")
    status = await _status(down)
    assert status["redis"] == "error"
    assert status["database"] == "running"


async def test_a_platform_key_makes_the_local_workspace_llm_ready(make_client, openai_stub):
    client = await make_client(auth_mode="local", openai_api_key="sk-platform-test-key",
                               openai_base_url=openai_stub.base_url)
    r = await client.get("/envs/get", headers={"Host": "localhost"})
    assert r.json()["openai_api_key_configured"] is True
    assert r.json()["services_status"]["llm"] == "running"


async def test_probes_are_reused_within_the_window(make_client):
    client = await make_client(auth_mode="local")
    first = await _status(client)
    stamp = client.app.state.ctx.extras["service_probe"][0]
    await asyncio.gather(*[_status(client) for _ in range(5)])
    assert client.app.state.ctx.extras["service_probe"][0] == stamp  # not probed again
    assert first["job_queue"] == "running"
