"""POST /estimate/start computed in process vs through the MCP compute_estimate tool.

`pricewise serve --no-demo` runs twice in its own process on a free loopback port (one uvicorn
worker, local auth mode, a fresh SQLite file each, rate limits raised): once as shipped, once with
PRICEWISE_ESTIMATION_VIA_MCP=true and PRICEWISE_MCP_URL pointing at its own /mcp, so every
estimate makes a signed MCP call (HMAC + JWT, nonce claimed, tenant checked, stateless
initialize + tools/call: two HTTP requests) back into the same process. The load is
estimation_load.py's: `--clients` keep-alive clients sending varied descriptions, after a warm-up.

    python bench/mcp_overhead.py [--clients 4] [--requests 400] [--markdown]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from api_overhead import Server, free_port
from benchinfo import machine
from estimation_load import run, server_cpu


def measure(via_mcp: bool, clients: int, requests: int, warmup: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="pricewise-mcpbench-"))
    port = free_port()
    env = {**os.environ, "PRICEWISE_VAR_DIR": str(tmp), "PRICEWISE_LOG_LEVEL": "WARNING",
           "PRICEWISE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
           "PRICEWISE_RATE_LIMIT_REQUESTS_PER_MINUTE": "100000000",
           "PRICEWISE_ESTIMATES_PER_HOUR_ENTERPRISE": "100000000", "PRICEWISE_SECRET_KEY": "bench-" + "k" * 32,
           "PRICEWISE_ESTIMATION_VIA_MCP": "true" if via_mcp else "false",
           "PRICEWISE_MCP_URL": f"http://127.0.0.1:{port}/mcp"}
    for name in ("OPENAI_API_KEY", "PRICEWISE_OPENAI_API_KEY", "PRICEWISE_REDIS_URL"):
        env.pop(name, None)
    cmd = [str(Path(sys.executable).parent / "pricewise"), "serve", "--no-demo", "--host", "127.0.0.1",
           "--port", str(port)]
    server = Server("pricewise", cmd, env, port, tmp / "server.log", None)
    try:
        server.wait_ready(120)
        cpu0 = server_cpu(server.proc.pid)
        got = run(port, clients, requests, warmup)
        got["cpu"] = server_cpu(server.proc.pid) - cpu0
    finally:
        server.stop()
    if got["errors"]:
        raise SystemExit(f"{len(got['errors'])} failed requests, e.g. {got['errors'][0]}")
    return got


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--warmup", type=int, default=40)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    rows = []
    for via in (False, True):
        got = measure(via, args.clients, args.requests, args.warmup)
        lat = sorted(got["lat"])
        q = statistics.quantiles(lat, n=100)
        rows.append(("through MCP" if via else "in process", q[49], q[94], len(lat) / got["wall"],
                     got["cpu"] / len(lat) * 1000))
    print(f"machine: {machine()}; {args.clients} clients, {args.requests} requests per mode")
    head = ("estimate computed", "p50 ms", "p95 ms", "req/s", "server CPU ms/req")
    if args.markdown:
        print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
        for r in rows:
            print(f"| {r[0]} | {r[1]:.1f} | {r[2]:.1f} | {r[3]:.0f} | {r[4]:.1f} |")
    else:
        print(f"{head[0]:<20}{head[1]:>9}{head[2]:>9}{head[3]:>8}{head[4]:>20}")
        for r in rows:
            print(f"{r[0]:<20}{r[1]:>9.1f}{r[2]:>9.1f}{r[3]:>8.0f}{r[4]:>20.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
