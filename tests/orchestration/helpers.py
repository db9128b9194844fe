"""Starting runs and waiting for them, over HTTP as the client does."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import SECRET_KEY

TEST_WORKFLOWS = "tests.orchestration.workflows_for_tests"
FINAL = {"completed", "failed", "cancelled"}


async def start(client: Any, workflow: str, product_id: str | None = None, status: int = 200,
                **parameters: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"workflow_type": workflow, "parameters": parameters}
    if product_id:
        body["product_id"] = product_id
    r = await client.post("/orchestration", json=body)
    assert r.status_code == status, r.text
    out: dict[str, Any] = r.json()
    return out


async def run(client: Any, invocation_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/orchestration/runs/{invocation_id}")
    assert r.status_code == 200, r.text
    out: dict[str, Any] = r.json()
    return out


async def wait_until(client: Any, invocation_id: str, statuses: set[str] | None = None,
                     steps_done: int | None = None, rounds: int = 1200) -> dict[str, Any]:
    """Poll the run until its status is one of `statuses` (default: a final one) or, with
    steps_done, until that many steps are done. The embedded consumer polls its queue at most
    every second; the bound only keeps a broken engine from hanging the suite."""
    statuses = statuses or FINAL
    got: dict[str, Any] = {}
    for _ in range(rounds):
        got = await run(client, invocation_id)
        if steps_done is not None and got["progress"]["completed_steps"] >= steps_done:
            return got
        if steps_done is None and got["status"] in statuses:
            return got
        if steps_done is not None and got["status"] in FINAL:
            raise AssertionError(f"run ended before {steps_done} steps: {got['status']} {got.get('error')}")
        await asyncio.sleep(0.1)
    raise AssertionError(f"run {invocation_id} still {got.get('status')}: {got.get('progress')}")


async def logs(client: Any, invocation_id: str) -> list[dict[str, Any]]:
    r = await client.get(f"/api/orchestration/runs/{invocation_id}/logs")
    assert r.status_code == 200, r.text
    out: list[dict[str, Any]] = r.json()
    return out


# --- `pricewise worker` processes ------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def start_worker(db_url: str, log: Path, redis_url: str | None = None,
                 env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A `pricewise worker --workers 1` process with the test workflows registered. Its queue is
    Redis at `redis_url`, else the SQLite one of this process (conftest's PRICEWISE_VAR_DIR)."""
    full = {**os.environ, "PRICEWISE_DATABASE_URL": db_url, "PRICEWISE_SECRET_KEY": SECRET_KEY,
            "PRICEWISE_ORCHESTRATION_WORKFLOW_MODULES": TEST_WORKFLOWS, "PYTHONPATH": str(ROOT),
            "PRICEWISE_LOG_LEVEL": "INFO", **(env or {})}
    full.pop("PRICEWISE_REDIS_URL", None)
    if redis_url:
        full["PRICEWISE_REDIS_URL"] = redis_url
    cmd = [str(Path(sys.executable).parent / "pricewise"), "worker", "--workers", "1"]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, env=full, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
                                start_new_session=True)


def stop_worker(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
