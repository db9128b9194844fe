"""Mixed workload for 60 s: what the pricing UI and the estimate widget send, per route.

Two set-ups, each started fresh by this script on loopback ports:
  (a) embedded: `pricewise serve` with the demo workspace, one process, SQLite, jobs in process;
  (b) distributed: PostgreSQL + Redis, `pricewise serve --workers 4` and two `pricewise worker`
      processes (needs --database-url; the database should be a scratch one: the demo is loaded).
Both run in local mode (loopback, no credentials), rate limits raised so they count but never
refuse, no LLM (template narratives). Virtual users (default 16, keep-alive HTTP/1.1 in a
separate process) each repeat a weighted draw of:
  - the UI's start-up reads: products, segments, plans, links with details, runs, environment;
  - detail reads: a segment, a plan;
  - writes: create a segment, update it, search;
  - estimation: POST /estimate/start, POST /chat/send.
The table gives per-route count, errors (any status >= 400 other than expected), p50/p95/p99 and
the throughput; the target is error rate 0 and p95 < 100 ms on every route (no LLM calls here).

    python bench/load.py [--duration 60] [--users 16] [--think 0] [--database-url URL --redis-url URL] [--markdown]

With --think T each user waits an exponential time of mean T seconds between requests, as a
person reading a page does; without it users send back to back, which measures saturation.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from api_overhead import Server, free_port, http
from benchinfo import machine
from estimation_load import PLACES, PROJECTS

TARGET_P95_MS = 100.0
SEGMENT_WORDS = ["Enterprise", "Mid-market", "SMB", "Startup", "Retail", "Healthcare", "Agency", "Education",
                 "Nonprofit", "Fintech", "Annual", "Monthly", "EMEA", "APAC", "North America", "Self-serve"]
DESCRIPTION_WORDS = ["buyers", "teams", "annual", "contracts", "price", "sensitive", "growing", "usage", "seats",
                     "procurement", "security", "review", "self-serve", "trial", "churn", "risk", "expansion",
                     "regional", "partners", "discount", "monthly", "billing", "finance", "operations"]
READS = ["/product/list", "/customer-segment/list", "/pricing-plan/list",
         "/customer-segment/pricing-plan/link/listall", "/historical/allruns", "/envs/get", "/health"]


def plan(rng: random.Random, ids: dict[str, list[str]]) -> tuple[str, str, str, Any]:
    """(route label, method, path, body) of one request, by weight."""
    roll = rng.random()
    if roll < 0.45:
        path = rng.choice(READS)
        return f"GET {path}", "GET", path, None
    if roll < 0.60:
        kind = rng.choice(["customer-segment", "pricing-plan"])
        return f"GET /{kind}/read", "GET", f"/{kind}/read?id={rng.choice(ids[kind])}", None
    if roll < 0.68:
        # Names from a vocabulary, as people write them: every new word is embedded through the
        # transformer once per process, and random strings would make every write do that.
        uid = f"SEG-{rng.choice(SEGMENT_WORDS).upper().replace(' ', '-')}-{rng.randrange(10**6)}"
        return "POST /customer-segment/create", "POST", "/customer-segment/create", {
            "customer_segment_name": f"{rng.choice(SEGMENT_WORDS)} {rng.choice(SEGMENT_WORDS)} {rng.randrange(100)}",
            "customer_segment_uid": uid}
    if roll < 0.73:
        return "PUT /customer-segment/update", "PUT", "/customer-segment/update", {
            "id": rng.choice(ids["customer-segment"]),
            "customer_segment_description": " ".join(rng.choice(DESCRIPTION_WORDS) for _ in range(8))}
    if roll < 0.80:
        return "POST /search", "POST", "/search", {"query": rng.choice(["enterprise", "usage based", "startup",
                                                                          "annual plan", "big companies"])}
    if roll < 0.92:
        return "POST /estimate/start", "POST", "/estimate/start", {
            "description": f"{rng.choice(PROJECTS)} {rng.choice(PLACES)}".strip()}
    return "POST /chat/send", "POST", "/chat/send", {"message": rng.choice(
        ["I need a pool", "kitchen remodel in San Diego", "new roof, 2,000 sq ft", "granny flat"])}


def encode(method: str, path: str, body: Any, port: int) -> bytes:
    data = b"" if body is None else json.dumps(body).encode()
    return (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def user(port: int, seed: int, stop_at: float, ids: dict[str, list[str]],
               out: dict[str, list[float]], errors: dict[str, list[str]], think: float) -> None:
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        if think:  # users arrive spread out, not in lock step
            await asyncio.sleep(rng.uniform(0, think))
        while time.perf_counter() < stop_at:
            label, method, path, body = plan(rng, ids)
            if think and (writer.is_closing() or reader.at_eof()):  # the server closed an idle keep-alive
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            t0 = time.perf_counter()
            writer.write(encode(method, path, body, port))
            try:
                status = await reader.readuntil(b"\r\n")
            except (asyncio.IncompleteReadError, ConnectionResetError):  # closed as we sent: as a browser, retry
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                t0 = time.perf_counter()
                writer.write(encode(method, path, body, port))
                status = await reader.readuntil(b"\r\n")
            length = 0
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            payload = await reader.readexactly(length)
            out[label].append((time.perf_counter() - t0) * 1000)
            if status[9:10] != b"2":
                errors[label].append(f"{status.decode().strip()} {payload[:160].decode(errors='replace')}")
            if think:  # a person reading the page before the next click
                await asyncio.sleep(rng.expovariate(1 / think))
    finally:
        writer.close()


async def run_load(port: int, users: int, duration: float, ids: dict[str, list[str]], think: float) -> dict[str, Any]:
    out: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    warm_out: dict[str, list[float]] = defaultdict(list)
    await asyncio.gather(*[user(port, 10_000 + i, time.perf_counter() + 5, ids, warm_out, defaultdict(list), think)
                           for i in range(users)])
    t0 = time.perf_counter()
    await asyncio.gather(*[user(port, i, t0 + duration, ids, out, errors, think) for i in range(users)])
    return {"lat": dict(out), "errors": dict(errors), "wall": time.perf_counter() - t0}


def ids_of(base: str) -> dict[str, list[str]]:
    out = {}
    for kind in ("customer-segment", "pricing-plan"):
        status, rows = http("GET", f"{base}/{kind}/list?limit=100")
        assert status == 200 and rows, f"{kind}: {status} {rows}"
        out[kind] = [r["_id"] for r in rows]
    return out


def shared_table(tmp: Path) -> None:
    """An installation builds the embedder's token table once (core/embedding_table.py); the
    runs here start from fresh folders, so they share one built beforehand, as in steady state."""
    from pricewise.core import embedding_table
    from pricewise.core.embeddings import static_embedder
    from pricewise.core.threads import single_threaded_blas

    cache = Path(tempfile.gettempdir()) / "pricewise-bench-cache"
    built = embedding_table.table_path(cache)
    if not built.exists():
        print("building the embedding table once (about 1.5 min) ...", file=sys.stderr)
        single_threaded_blas()
        embedding_table.build(static_embedder(), built)
    target = embedding_table.table_path(tmp)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(built)


def start(args: argparse.Namespace, tmp: Path) -> tuple[list[Server], int]:
    shared_table(tmp)
    port = free_port()
    env = {**os.environ, "PRICEWISE_VAR_DIR": str(tmp), "PRICEWISE_LOG_LEVEL": "WARNING",
           "PRICEWISE_RATE_LIMIT_REQUESTS_PER_MINUTE": "100000000",
           "PRICEWISE_RATE_LIMIT_AI_REQUESTS_PER_MINUTE": "100000000",
           "PRICEWISE_ESTIMATES_PER_HOUR_ENTERPRISE": "100000000", "PRICEWISE_SECRET_KEY": "bench-" + "k" * 32,
           "PRICEWISE_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{tmp / 'load.db'}"}
    for name in ("OPENAI_API_KEY", "PRICEWISE_OPENAI_API_KEY", "PRICEWISE_REDIS_URL"):
        env.pop(name, None)
    if args.redis_url:
        env["PRICEWISE_REDIS_URL"] = args.redis_url
    exe = str(Path(sys.executable).parent / "pricewise")
    api = Server("api", [exe, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers)],
                 env, port, tmp / "api.log", None)
    servers = [api]
    api.wait_ready(180)
    for i in range(args.job_workers if args.redis_url else 0):
        servers.append(Server(f"worker{i}", [exe, "worker", "--workers", "2"], env, port, tmp / f"worker{i}.log",
                              None))
    return servers, port


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--users", type=int, default=16)
    ap.add_argument("--think", type=float, default=0.0,
                    help="mean seconds a user waits between requests (exponential); 0: back to back")
    ap.add_argument("--database-url", help="PostgreSQL for set-up (b); default (a): a fresh SQLite file")
    ap.add_argument("--redis-url", help="Redis for set-up (b): queue, events, rate limits")
    ap.add_argument("--workers", type=int, help="API processes (default 1, or 4 with --redis-url)")
    ap.add_argument("--job-workers", type=int, default=2, help="`pricewise worker` processes with --redis-url")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loadgen:
        port, users, duration, ids, think = json.loads(args.loadgen)
        print(json.dumps(asyncio.run(run_load(port, users, duration, ids, think))))
        return 0
    args.workers = args.workers or (4 if args.redis_url else 1)
    tmp = Path(tempfile.mkdtemp(prefix="pricewise-load-"))
    servers, port = start(args, tmp)
    try:
        ids = ids_of(f"http://127.0.0.1:{port}")
        cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen",
               json.dumps([port, args.users, args.duration, ids, args.think])]
        got = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
                         .splitlines()[-1])
    finally:
        for s in reversed(servers):
            s.stop()
    setup = (f"PostgreSQL + Redis, {args.workers} API processes, {args.job_workers} workers" if args.redis_url
             else f"SQLite embedded, {args.workers} process(es)")
    head = ["route", "requests", "errors", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms"]
    rows, total, bad = [], 0, 0
    for label in sorted(got["lat"], key=lambda k: -len(got["lat"][k])):
        lat = sorted(got["lat"][label])
        q = statistics.quantiles(lat, n=100) if len(lat) > 1 else [lat[0]] * 99
        errs = len(got["errors"].get(label, []))
        total, bad = total + len(lat), bad + errs
        rows.append([label, f"{len(lat):,}", str(errs), f"{len(lat) / got['wall']:.1f}", f"{q[49]:.1f}",
                     f"{q[94]:.1f}", f"{q[98]:.1f}", f"{lat[-1]:.0f}"])
    everything = sorted(x for v in got["lat"].values() for x in v)
    qa = statistics.quantiles(everything, n=100)
    rows.append(["all", f"{total:,}", str(bad), f"{total / got['wall']:.1f}", f"{qa[49]:.1f}", f"{qa[94]:.1f}",
                 f"{qa[98]:.1f}", f"{everything[-1]:.0f}"])
    print(f"machine: {machine()}")
    pace = f"think time {args.think:g} s (mean)" if args.think else "back to back"
    print(f"set-up: {setup}; {args.users} users, {pace}, for {args.duration:.0f} s; "
          f"load average {os.getloadavg()[0]:.1f}")
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(head, widths, strict=True))))
    for r in rows:
        print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))))
    worst = max(float(r[5]) for r in rows[:-1])
    print(f"target: 0 errors ({'met' if bad == 0 else 'MISSED'}), p95 < {TARGET_P95_MS:.0f} ms on every route "
          f"({'met' if worst < TARGET_P95_MS else 'MISSED'}: worst {worst:.1f} ms)")
    if args.markdown:
        print("\n| " + " | ".join(head) + " |\n|---|" + "---:|" * (len(head) - 1))
        for r in rows:
            print("| " + " | ".join(r) + " |")
    for label, errs in got["errors"].items():
        print(f"first errors of {label}:", *errs[:2], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
