"""Analysis runs under load: N concurrent runs on W `pricewise worker` processes.

A fresh database (PostgreSQL scratch database `pricewise_bench_runs`, or a SQLite file) gets the
demo workspace (one product, four segments, five plans, 36 months of history, 200 customers).
W worker processes are started (each `pricewise worker --workers T`, on the Redis queue or the
SQLite one), then N runs of the workflow are started through the API (POST /orchestration) with
the concurrency limits set to N, so that all of them are in flight at once and their steps
interleave on the workers. The bench waits until every run has ended and checks that each
completed with each step recorded exactly once.

Engine overhead per step: each `advance_run` task logs its own duration and that of the step
function it ran; overhead = task - step: claiming the run, the step's input, writing the result,
progress and logs, the events, queueing the next step, and the task's database engine set-up.
Queue waiting time is not in it (it is load, not overhead) but the run durations include it.
Being wall-clock time, it also includes waiting for a CPU or for the interpreter lock while other
threads or processes run (model fitting in the worker's other threads, anything else on the
machine); the engine's CPU time per step (the worker thread's CPU time over the task minus that
over the step function) is printed beside it.

    python bench/orchestration_load.py [--runs 100] [--workers 2] [--threads 1] [--db postgres|sqlite]
        [--queue redis|sqlite] [--workflow pricing_analysis] [--depth basic|comprehensive] [--markdown]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchinfo import machine

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PG_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
PG_DB = "pricewise_bench_runs"
REDIS = "redis://127.0.0.1:6379/12"
TARGET_P95_MS = 20.0


class _TimingFile(logging.Handler):
    """Worker side: one JSON line per step task (the engine's timing log record)."""

    def __init__(self, path: str) -> None:
        super().__init__(logging.DEBUG)
        self.out = open(path, "a", buffering=1)  # noqa: SIM115 (open for the worker's life)

    def emit(self, record: logging.LogRecord) -> None:
        self.out.write(json.dumps({"run_id": getattr(record, "run_id", None), "pid": os.getpid(),
                                   "step_order": getattr(record, "step_order", None),
                                   "task_ms": getattr(record, "task_ms", None),
                                   "task_cpu_ms": getattr(record, "task_cpu_ms", None),
                                   "step_cpu_ms": getattr(record, "step_cpu_ms", None),
                                   "step_ms": getattr(record, "step_ms", None)}) + "\n")


def as_worker(timing: str, threads: int) -> None:
    timing_log = logging.getLogger("pricewise.orchestration.timing")
    timing_log.setLevel(logging.DEBUG)
    timing_log.propagate = False
    timing_log.addHandler(_TimingFile(timing))
    from pricewise.cli import app

    app(["worker", "--workers", str(threads)], standalone_mode=False)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


async def _pg_fresh() -> str:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    eng = create_async_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    async with eng.connect() as conn:
        await conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)"))
        await conn.execute(text(f"CREATE DATABASE {PG_DB}"))
    await eng.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{PG_DB}"


async def _load_and_start(settings: Any, runs: int, workflow: str, params: dict[str, Any]) -> tuple[list[str], float]:
    import httpx

    from pricewise.app import create_app
    from pricewise.core.context import AppContext
    from pricewise.demo import load_demo

    ctx = AppContext.build(settings)
    await load_demo(ctx)
    await ctx.db.dispose()
    app = create_app(settings, auth_mode="local")
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://localhost") as c:
        product = (await c.get("/product/list")).json()[0]["_id"]
        started = time.perf_counter()
        ids = []
        for _ in range(runs):
            r = await c.post("/orchestration", json={"workflow_type": workflow, "product_id": product,
                                                     "parameters": params})
            r.raise_for_status()
            ids.append(r.json()["invocation_id"])
    return ids, started


async def _wait(settings: Any, ids: list[str], limit_s: float) -> list[Any]:
    from sqlalchemy import select

    from pricewise.core.db import Database
    from pricewise.orchestration.models import OrchestrationRun as Run

    db = Database(settings.database_url)
    end = time.monotonic() + limit_s
    try:
        while True:
            async with db.session() as s:
                rows = (await s.execute(select(Run.invocation_id, Run.status, Run.created_at, Run.started_at,
                                               Run.completed_at, Run.total_steps, Run.id)
                                        .where(Run.invocation_id.in_(ids)))).all()
            if all(r.status in ("completed", "failed", "cancelled") for r in rows) or time.monotonic() > end:
                return list(rows)
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def _step_counts(settings: Any) -> Counter[tuple[str, int]]:
    from sqlalchemy import select

    from pricewise.core.db import Database
    from pricewise.orchestration.models import OrchestrationResult as Res

    db = Database(settings.database_url)
    async with db.session() as s:
        rows = (await s.execute(select(Res.run_id, Res.step_order))).all()
    await db.dispose()
    return Counter((r.run_id, r.step_order) for r in rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2, help="worker processes")
    ap.add_argument("--threads", type=int, default=1, help="consumer threads per worker process")
    ap.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    ap.add_argument("--queue", choices=("redis", "sqlite"), default="redis")
    ap.add_argument("--workflow", default="bench_wait", help="bench_wait (the engine alone) or a real one")
    ap.add_argument("--wait-ms", type=float, default=50, help="bench_wait: each step's wait")
    ap.add_argument("--depth", choices=("basic", "comprehensive"), default="basic")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--as-worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.as_worker:
        as_worker(args.as_worker, args.threads)
        return

    tmp = Path(tempfile.mkdtemp(prefix="pricewise-bench-runs-"))
    db_url = asyncio.run(_pg_fresh()) if args.db == "postgres" else f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    env = {"PRICEWISE_DATABASE_URL": db_url, "PRICEWISE_VAR_DIR": str(tmp), "PRICEWISE_LOG_LEVEL": "WARNING",
           "PRICEWISE_SECRET_KEY": "bench-secret-key-0123456789abcdef",
           "MAX_CONCURRENT_ORCHESTRATIONS": str(args.runs),
           "PRICEWISE_MAX_CONCURRENT_ORCHESTRATIONS_TOTAL": str(args.runs),
           "PRICEWISE_RATE_LIMIT_REQUESTS_PER_MINUTE": "1000000",
           "PRICEWISE_ORCHESTRATION_WORKFLOW_MODULES": "orchestration_workflow",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    if args.queue == "redis":
        env["PRICEWISE_REDIS_URL"] = REDIS
    else:
        os.environ.pop("PRICEWISE_REDIS_URL", None)
    os.environ.update(env)  # before pricewise is imported: the job queue is chosen from these

    from pricewise.core.jobs import huey
    from pricewise.core.migrate import upgrade
    from pricewise.settings import load_settings

    settings = load_settings()
    upgrade(db_url)
    huey.flush()
    timing = tmp / "timing.jsonl"
    procs = [subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--as-worker", str(timing),
                               "--threads", str(args.threads)], env=dict(os.environ),
                              stdout=(tmp / f"worker{i}.log").open("wb"), stderr=subprocess.STDOUT, cwd=ROOT)
             for i in range(args.workers)]
    try:
        time.sleep(3)  # the workers import and connect; runs queued before then would only wait
        params = {"analysis_depth": args.depth, "include_forecasting": True, "wait_ms": args.wait_ms}
        ids, started = asyncio.run(_load_and_start(settings, args.runs, args.workflow, params))
        rows = asyncio.run(_wait(settings, ids, args.timeout))
        wall = time.perf_counter() - started
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
    counts = asyncio.run(_step_counts(settings))
    report(args, rows, counts, timing, wall)


def report(args: Any, rows: list[Any], counts: Counter[tuple[str, int]], timing: Path, wall: float) -> None:
    statuses = Counter(r.status for r in rows)
    once = all(counts[(r.id, o)] == 1 for r in rows for o in range(r.total_steps)) and all(
        v == 1 for v in counts.values())
    recs = [json.loads(x) for x in timing.read_text().splitlines()] if timing.exists() else []
    overhead = [r["task_ms"] - r["step_ms"] for r in recs]
    step = [r["step_ms"] for r in recs]
    cpu = [r["task_cpu_ms"] - r["step_cpu_ms"] for r in recs]
    durations = [(r.completed_at - r.created_at).total_seconds() for r in rows if r.completed_at]
    pids = Counter(r["pid"] for r in recs)
    ok = statuses == {"completed": args.runs} and once and pct(overhead, 95) < TARGET_P95_MS
    info = machine()
    table = [
        ("runs completed", f"{statuses.get('completed', 0)} of {args.runs}" + (
            f" ({dict(statuses)})" if set(statuses) != {"completed"} else "")),
        ("every step recorded exactly once", "yes" if once else "NO"),
        ("steps executed (tasks timed)", f"{len(recs)} on {len(pids)} worker process(es) {sorted(pids.values())}"),
        ("engine overhead per step p50 / p95 / p99 / max",
         f"{pct(overhead, 50):.1f} / {pct(overhead, 95):.1f} / {pct(overhead, 99):.1f} / "
         f"{max(overhead, default=float('nan')):.1f} ms (target p95 < {TARGET_P95_MS:g} ms)"),
        ("engine CPU per step (thread CPU, task - step) p50 / p95", f"{pct(cpu, 50):.1f} / {pct(cpu, 95):.1f} ms"),
        ("step work p50 / p95", f"{pct(step, 50):.0f} / {pct(step, 95):.0f} ms"),
        ("run duration (queued to done) p50 / p95 / max",
         f"{pct(durations, 50):.1f} / {pct(durations, 95):.1f} / {max(durations, default=float('nan')):.1f} s"),
        ("wall time, first start to last end", f"{wall:.1f} s ({len(recs) / wall:.1f} steps/s)"),
    ]
    title = (f"{args.runs} x {args.workflow} ({args.depth}), {args.workers} worker process(es) x {args.threads} "
             f"thread(s), {args.db} database, {args.queue} queue; {info['cpus']} CPU(s) {info['cpu']}, "
             f"Python {info['python']}")
    if args.markdown:
        print(f"**{title}**\n\n| measure | value |\n|---|---|")
        for k, v in table:
            print(f"| {k} | {v} |")
    else:
        print(title)
        width = max(len(k) for k, _ in table)
        for k, v in table:
            print(f"  {k:<{width}}  {v}")
    print("PASS" if ok else "FAIL")
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
