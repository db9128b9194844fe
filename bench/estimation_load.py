"""POST /estimate/start under concurrent clients, offline (no LLM: template narratives).

`pricewise serve --no-demo` runs in its own process on a free loopback port (one uvicorn worker,
local auth mode, a fresh SQLite file unless --database-url), with the rate limits raised so they
are counted but never refuse. `--clients` asyncio clients (default 16) each send estimate requests
back to back, drawn from varied descriptions (pools, ADUs, kitchens... with regions, sizes and
add-ons), after an unmeasured warm-up that builds the matcher and distils the embedding rows.
Every request is a full estimate: extraction, matching, calibration look-up, the model, the
narrative, two inserts and the commit. The table gives latency percentiles, throughput and the
server's CPU time per request (all its threads, from /proc).

    python bench/estimation_load.py [--clients 16] [--requests 1600] [--database-url URL] [--markdown]
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
from pathlib import Path
from typing import Any

from api_overhead import Server, cpu_seconds, free_port
from benchinfo import machine

ROOT = Path(__file__).resolve().parents[1]
TARGET_P95_MS = 100.0
PROJECTS = ["15x30 pool with spa", "lap pool, heated, automatic cover", "small plunge pool",
            "detached ADU, 750 sq ft", "garage conversion to a granny flat", "kitchen remodel, high-end",
            "midrange kitchen remodel 200 sq ft", "redo the master bathroom", "small bathroom refresh",
            "backyard landscaping with pavers and sod, 1500 sq ft", "new roof, asphalt shingles, 2 story",
            "tile roof replacement 2,000 sq ft", "hardwood floors for 800 sq ft", "luxury vinyl plank flooring"]
PLACES = ["in San Diego", "in Riverside", "in Sacramento", "near San Luis Obispo", "in Los Angeles", ""]


def description(rng: random.Random) -> str:
    return f"{rng.choice(PROJECTS)} {rng.choice(PLACES)}".strip()


def request_bytes(host: str, port: int, body: str) -> bytes:
    data = json.dumps({"description": body}).encode()
    return (f"POST /estimate/start HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n").encode() + data


async def client_loop(host: str, port: int, n: int, seed: int, out: list[float], errors: list[str]) -> None:
    """Keep-alive HTTP/1.1 POSTs on one connection: far lighter than an HTTP library, so the load
    generator takes little of the machine's two cores from the server."""
    rng = random.Random(seed)
    reader, writer = await asyncio.open_connection(host, port)
    try:
        for _ in range(n):
            req = request_bytes(host, port, description(rng))
            t0 = time.perf_counter()
            writer.write(req)
            status = await reader.readuntil(b"\r\n")
            length = 0
            while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            out.append((time.perf_counter() - t0) * 1000)
            if status[9:12] != b"200":
                errors.append(f"{status.decode().strip()} {body[:200].decode(errors='replace')}")
    finally:
        writer.close()


async def load(host: str, port: int, clients: int, requests: int, warmup: int) -> dict[str, Any]:
    sink: list[float] = []
    errors: list[str] = []
    await asyncio.gather(*[client_loop(host, port, max(1, warmup // clients), 1000 + i, sink, errors)
                           for i in range(clients)])
    lat: list[float] = []
    t0 = time.perf_counter()
    await asyncio.gather(*[client_loop(host, port, requests // clients, i, lat, errors) for i in range(clients)])
    return {"lat": lat, "wall": time.perf_counter() - t0, "errors": errors}


def run(port: int, clients: int, requests: int, warmup: int) -> dict[str, Any]:
    """The load generator in its own process (its CPU time is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", str(port), "--clients", str(clients),
           "--requests", str(requests), "--warmup", str(warmup)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    got: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return got


def server_cpu(pid: int) -> float:
    """CPU seconds of the server and its worker processes."""
    total = cpu_seconds(pid) or 0.0
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return total + sum(server_cpu(int(c)) for c in children)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--requests", type=int, default=1600, help="measured requests in all (default 1600)")
    ap.add_argument("--warmup", type=int, default=160)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    ap.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--loadgen", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.loadgen:
        print(json.dumps(asyncio.run(load("127.0.0.1", args.loadgen, args.clients, args.requests, args.warmup))))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="pricewise-estload-"))
    port = free_port()
    env = {**os.environ, "PRICEWISE_VAR_DIR": str(tmp), "PRICEWISE_LOG_LEVEL": "WARNING",
           "PRICEWISE_DATABASE_URL": args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
           "PRICEWISE_RATE_LIMIT_REQUESTS_PER_MINUTE": "100000000",
           "PRICEWISE_ESTIMATES_PER_HOUR_ENTERPRISE": "100000000", "PRICEWISE_SECRET_KEY": "bench-" + "k" * 32}
    for name in ("OPENAI_API_KEY", "PRICEWISE_OPENAI_API_KEY", "PRICEWISE_REDIS_URL"):
        env.pop(name, None)
    cmd = [str(Path(sys.executable).parent / "pricewise"), "serve", "--no-demo", "--host", "127.0.0.1",
           "--port", str(port), "--workers", str(args.workers)]
    server = Server("pricewise", cmd, env, port, tmp / "server.log", None)
    try:
        server.wait_ready(120)
        cpu0 = server_cpu(server.proc.pid)
        got = run(port, args.clients, args.requests, args.warmup)
        cpu = server_cpu(server.proc.pid) - cpu0
    finally:
        server.stop()
    lat = sorted(got["lat"])
    q = statistics.quantiles(lat, n=100)
    n = len(lat)
    db = "PostgreSQL" if args.database_url and args.database_url.startswith("postgresql") else "SQLite"
    warm_share = cpu / (got["wall"] + 1e-9)
    row = [db, str(args.workers), str(args.clients), f"{n:,}", f"{n / got['wall']:.0f}", f"{q[49]:.1f}", f"{q[94]:.1f}",
           f"{q[98]:.1f}", f"{lat[-1]:.0f}", f"{cpu / max(1, n + args.warmup) * 1000:.1f}",
           str(len(got["errors"])), f"{os.getloadavg()[0]:.1f}"]
    head = ["database", "workers", "clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms",
            "server CPU ms/req", "errors", "load"]
    print(f"machine: {machine()}")
    print(f"target: p95 < {TARGET_P95_MS:.0f} ms at {args.clients} clients; server busy {warm_share:.0%}")
    widths = [max(len(h), len(c)) for h, c in zip(head, row, strict=True)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    if args.markdown:
        print("\n| " + " | ".join(head) + " |\n|" + "---:|" * len(head) + "\n| " + " | ".join(row) + " |")
    if got["errors"]:
        print("first errors:", *got["errors"][:3], sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
