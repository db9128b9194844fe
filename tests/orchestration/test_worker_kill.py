"""The acceptance test of crash recovery: a real `pricewise worker` process is killed with SIGKILL
in the middle of a step; another worker started afterwards finishes the run, and every step's
output (and every row a step wrote) exists exactly once.

The queue is the embedded SQLite one (the worker shares this process's PRICEWISE_VAR_DIR) or
Redis; the database is the SQLite file or PostgreSQL of the `db_url` fixture.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from pricewise.catalog.models import Product
from pricewise.core.base import utcnow
from pricewise.orchestration.models import OrchestrationResult, OrchestrationRun
from tests.conftest import REDIS_UP
from tests.orchestration.helpers import TEST_WORKFLOWS, logs, start, start_worker, stop_worker, wait_until

REDIS_QUEUE = "redis://127.0.0.1:6379/13"  # a database of its own: other tests use 11 and 15
QUEUES = [pytest.param("sqlite", id="sqlite-queue"),
          pytest.param("redis", id="redis-queue",
                       marks=pytest.mark.skipif(not REDIS_UP, reason="Redis is unreachable at 127.0.0.1:6379"))]


def _worker(db_url: str, queue: str, log: Path) -> subprocess.Popen[bytes]:
    # a one-second lease, so that the dead worker's lapses soon
    return start_worker(db_url, log, REDIS_QUEUE if queue == "redis" else None,
                        {"PRICEWISE_ORCHESTRATION_LEASE_SECONDS": "1"})


def _queue_for(queue: str) -> Any:
    if queue == "redis":
        from huey import RedisHuey

        return RedisHuey("pricewise", url=REDIS_QUEUE)
    from pricewise.core.jobs import huey

    return huey


async def _rows(client: Any, stmt: Any) -> list[Any]:
    async with client.app.state.ctx.db.session() as s:
        return list((await s.execute(stmt)).all())


async def _wait(predicate: Any, what: str, log: Path, rounds: int = 3000) -> None:
    """Poll; the bound only keeps a broken worker from hanging the suite (a loaded machine may take
    many seconds to start a worker process)."""
    for _ in range(rounds):
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"gave up waiting for {what}; the workers' log ends:\n{log.read_text()[-3000:]}")


@pytest.mark.parametrize("queue", QUEUES)
async def test_a_run_survives_its_worker_being_killed(make_client, db_url, tmp_path, queue):
    from pricewise.orchestration.tasks import advance_run

    client = await make_client(auth_mode="local", orchestration_workflow_modules=TEST_WORKFLOWS)
    q = _queue_for(queue)
    q.flush()  # only this test's jobs in the queue the workers read
    markers = tmp_path / "markers"
    markers.mkdir()
    started = await start(client, "test_slow", sleep_seconds=1.5, marker_dir=str(markers))
    iid = started["invocation_id"]
    run_id = (await _rows(client, select(OrchestrationRun.id)))[0][0]
    if queue == "redis":  # this app queues on SQLite; the workers read Redis
        q.task()(advance_run.func)(run_id)

    log = tmp_path / "workers.log"
    first = _worker(db_url, queue, log)
    second = None
    try:
        # kill the first worker while it sleeps inside step 2 (order 1), step 1 being done
        def mark(order: int, pid: int) -> list[Path]:
            return list(markers.glob(f"start-{order}-{pid}-*"))

        async def in_step_two() -> bool:
            assert first.poll() is None, log.read_text()
            return bool(mark(1, first.pid))

        await _wait(in_step_two, "the first worker to start step 2", log)
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        state = (await _rows(client, select(OrchestrationRun.status, OrchestrationRun.completed_steps,
                                            OrchestrationRun.worker)))[0]
        assert state.status == "running" and state.completed_steps == 1 and f":{first.pid}:" in state.worker

        async def lapsed() -> bool:  # nobody renews the dead worker's one-second lease
            rows = await _rows(client, select(OrchestrationRun.lease_until))
            return bool(rows[0][0] < utcnow())

        await _wait(lapsed, "the dead worker's lease to lapse", log)
        second = _worker(db_url, queue, log)  # resumes the run at start-up
        got = await wait_until(client, iid, rounds=3000)
        assert got["status"] == "completed", (got, log.read_text()[-3000:])
    finally:
        stop_worker(first)
        if second is not None:
            stop_worker(second)

    per_step = Counter(o for (o,) in await _rows(client, select(OrchestrationResult.step_order)))
    assert per_step == {0: 1, 1: 1, 2: 1, 3: 1}
    assert [s["step_output"]["pid"] for s in got["steps"]] == [first.pid, second.pid, second.pid, second.pid]
    # step 2 started twice (the kill interrupted it) but its row and its output were written once
    assert len(mark(1, first.pid)) == 1 and len(mark(1, second.pid)) == 1
    made = Counter(n for (n,) in await _rows(client, select(Product.name)))
    assert made == {f"made by run {iid} step {i}": 1 for i in range(4)}
    assert (await _rows(client, select(func.count()).select_from(OrchestrationResult)))[0][0] == 4
    resumed = [x for x in await logs(client, iid) if x["message"].startswith("Resuming from the last completed")]
    assert len(resumed) == 1 and f":{first.pid}:" in resumed[0]["message"]
