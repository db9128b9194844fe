"""API overhead: what pricewise costs per request next to a bare Starlette app.

Three targets, each served by its own single uvicorn process on a free loopback port, measured one
after the other in the same run with the same load generator:

  (a) bare Starlette returning the /health JSON ({"status": "ok", "timestamp": ...});
  (b) pricewise GET /health (middleware and routing, no database);
  (c) pricewise GET /api-keys with X-API-Key (auth mode `required`): the key is looked up in the
      database, the tenant rate limit is counted, the tenant's keys are listed.

pricewise is started with `pricewise serve --no-demo` (the production command, access log off)
and PRICEWISE_LOG_LEVEL=WARNING, on a fresh SQLite file in a temporary directory unless
--database-url points elsewhere (PostgreSQL: use a scratch database; the run adds one tenant).
The tenant rate limit is set to 100,000,000 a minute so that it is counted but never refuses.
`--fastapi` adds a reference row: the same /health in a bare FastAPI app.

The load comes from `wrk` (with a Lua script reporting the percentiles) when it is installed,
otherwise from a small asyncio HTTP/1.1 keep-alive client run in a separate process. Besides
req/s and latency the table gives the server's CPU time per request (all its threads, from
/proc), which moves much less than req/s when other work shares the machine. With --repeat N
the targets are measured N times in turn and each column is the median over the rounds.

    python bench/api_overhead.py [--duration 10] [--connections 32] [--repeat 3] [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchinfo import machine

HERE = Path(__file__).resolve().parent
TARGET_SHARE = 0.40  # authenticated list route: at least this share of bare Starlette's rps
TARGET_P99_MS = 50.0
RATE_LIMIT = "100000000"


# --- (a): the bare app, imported from this file by its uvicorn process -----------------------

def bare_app() -> Any:
    """uvicorn factory: one Starlette route answering what pricewise's /health answers."""
    from datetime import UTC, datetime

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok",
                             "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")})

    return Starlette(routes=[Route("/health", health)])


def fastapi_app() -> Any:
    """uvicorn factory for --fastapi: the same /health in a bare FastAPI app (no middleware)."""
    from datetime import UTC, datetime

    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z")}

    return app


# --- load generators ----------------------------------------------------------------------

@dataclass
class Result:
    requests: int
    seconds: float
    p50: float  # ms
    p95: float
    p99: float
    max: float
    errors: int  # socket errors and timeouts
    bad_status: int  # responses that are not 2xx/3xx
    cpu_us: float | None = None  # server CPU time (all its threads) per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_LUA = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'PWBENCH {"requests": %d, "duration_us": %d, "p50": %.1f, "p95": %.1f, "p99": %.1f, ' ..
    '"max": %.1f, "errors": %d, "status": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, e.status))
end
"""


def run_wrk(url: str, headers: dict[str, str], duration: float, connections: int, threads: int,
            lua: Path) -> Result:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
           "-s", str(lua)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("PWBENCH "))
    d = json.loads(line.removeprefix("PWBENCH "))
    return Result(requests=d["requests"], seconds=d["duration_us"] / 1e6, p50=d["p50"] / 1000,
                  p95=d["p95"] / 1000, p99=d["p99"] / 1000, max=d["max"] / 1000,
                  errors=d["errors"], bad_status=d["status"])


def run_python(url: str, headers: dict[str, str], duration: float, connections: int) -> Result:
    """The fallback: this file again, as `--loadgen`, in its own process (its own CPU time)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--loadgen", url,
           "--duration", str(duration), "--connections", str(connections),
           "--headers", json.dumps(headers)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return Result(**json.loads(out.strip().splitlines()[-1]))


async def _loadgen(url: str, headers: dict[str, str], duration: float, connections: int) -> dict[str, Any]:
    """Keep-alive HTTP/1.1 GETs from `connections` workers; far lighter than an HTTP library."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {parts.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n{head}\r\n".encode()
    latencies: list[float] = []
    counts = {"errors": 0, "bad_status": 0}
    stop_at = time.perf_counter() + duration

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                writer.write(request)
                status_line = await reader.readuntil(b"\r\n")
                length = 0
                while True:
                    line = await reader.readuntil(b"\r\n")
                    if line == b"\r\n":
                        break
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                if status_line[9:10] not in (b"2", b"3"):
                    counts["bad_status"] += 1
        except (OSError, asyncio.IncompleteReadError):
            counts["errors"] += 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p))] * 1000 if latencies else 0.0

    return {"requests": len(latencies), "seconds": elapsed, "p50": pct(0.50), "p95": pct(0.95),
            "p99": pct(0.99), "max": latencies[-1] * 1000 if latencies else 0.0, **counts}


# --- servers ------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and all its threads (Linux /proc), else None."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never a proxy


def http(method: str, url: str, headers: dict[str, str] | None = None,
         body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={**(headers or {}), "Content-Type": "application/json"})
    try:
        with _DIRECT.open(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class Server:
    def __init__(self, name: str, cmd: list[str], env: dict[str, str], port: int, log: Path,
                 cpu: int | None) -> None:
        self.name, self.port, self.log = name, port, log
        preexec = (lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None
        self.fh = log.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.fh, stderr=subprocess.STDOUT,
                                     start_new_session=True, preexec_fn=preexec)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n"
                                   f"{self.log.read_text(errors='replace')[-3000:]}")
            try:
                if http("GET", self.base + "/health")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.fh.close()


# --- the run ------------------------------------------------------------------------------

def create_tenant(env: dict[str, str]) -> str:
    tag = secrets.token_hex(4)
    out = subprocess.run(
        [sys.executable, "-m", "pricewise.cli", "tenants", "create", f"bench {tag}",
         f"bench-{tag}@example.com", "--password", secrets.token_urlsafe(18) + "Aa1!", "--tier", "enterprise"],
        env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"pricewise tenants create failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout.split("api key (shown once):", 1)[1].strip().split()[0]


def median_result(rs: list[Result]) -> Result:
    """Each column's median over the rounds (one round: that round)."""
    def med(values: list[float]) -> float:
        return float(statistics.median(values))

    cpus = [r.cpu_us for r in rs if r.cpu_us is not None]
    seconds = med([r.seconds for r in rs])
    return Result(requests=round(med([r.rps for r in rs]) * seconds), seconds=seconds,
                  p50=med([r.p50 for r in rs]), p95=med([r.p95 for r in rs]), p99=med([r.p99 for r in rs]),
                  max=max(r.max for r in rs), errors=sum(r.errors for r in rs),
                  bad_status=sum(r.bad_status for r in rs), cpu_us=med(cpus) if cpus else None)


def fmt_row(label: str, r: Result, base: Result) -> list[str]:
    share = f"{r.rps / base.rps:.0%}" if base.rps else "-"
    cpu = f"{r.cpu_us:,.0f}" if r.cpu_us is not None else "-"
    return [label, f"{r.rps:,.0f}", f"{r.p50:.2f}", f"{r.p95:.2f}", f"{r.p99:.2f}", share, cpu,
            str(r.errors + r.bad_status)]


COLUMNS = ["target", "req/s", "p50 ms", "p95 ms", "p99 ms", "vs (a)", "server CPU µs/req", "errors"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--duration", type=float, default=10.0, help="seconds per target (default 10)")
    ap.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds before each target")
    ap.add_argument("--repeat", type=int, default=1,
                    help="rounds over all targets; the table gives each column's median (default 1)")
    ap.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    ap.add_argument("--redis-url", help="rate-limit counters on Redis instead of process memory")
    ap.add_argument("--threads", type=int, default=1, help="wrk threads (default 1: 2-core machines)")
    ap.add_argument("--loadgen-impl", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--pin", action="store_true",
                    help="pin servers to CPU 0 and the load generator to CPU 1")
    ap.add_argument("--fastapi", action="store_true",
                    help="add a reference row: the same /health in a bare FastAPI app")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--loadgen", help=argparse.SUPPRESS)
    ap.add_argument("--headers", default="{}", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.loadgen:  # child mode of the Python load generator
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        print(json.dumps(asyncio.run(_loadgen(args.loadgen, json.loads(args.headers), args.duration,
                                               args.connections))))
        return 0

    from rich.console import Console
    from rich.table import Table

    console = Console(width=None if sys.stdout.isatty() else 120)
    impl = args.loadgen_impl
    if impl == "auto":
        impl = "wrk" if shutil.which("wrk") else "python"
    if impl == "wrk" and not shutil.which("wrk"):
        console.print("[red]wrk is not installed (apt-get install -y wrk)[/red]")
        return 2
    tmp = Path(tempfile.mkdtemp(prefix="pricewise-bench-"))
    db_url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    cpus = len(os.sched_getaffinity(0))
    pin = args.pin and cpus >= 2
    if pin:
        os.sched_setaffinity(0, {1})  # this process and the load generator it starts

    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PRICEWISE_") and k not in ("REDIS_URL", "RATE_LIMIT_REQUESTS_PER_MINUTE")}
    env.update({"PRICEWISE_DATABASE_URL": db_url, "PRICEWISE_VAR_DIR": str(tmp / "var"),
                "PRICEWISE_AUTH_MODE": "required", "PRICEWISE_LOG_LEVEL": "WARNING",
                "RATE_LIMIT_REQUESTS_PER_MINUTE": RATE_LIMIT, "PYTHONDONTWRITEBYTECODE": "1"})
    if args.redis_url:
        env["PRICEWISE_REDIS_URL"] = args.redis_url
    lua = tmp / "report.lua"
    lua.write_text(WRK_LUA)

    servers: list[Server] = []
    try:
        console.print(f"database {db_url.split('@')[-1]}; creating a verified tenant...")
        key = create_tenant(env)
        cpu = 0 if pin else None

        def plain(name: str, factory: str) -> Server:
            port = free_port()
            return Server(name, [sys.executable, "-m", "uvicorn", f"api_overhead:{factory}", "--factory",
                                 "--app-dir", str(HERE), "--host", "127.0.0.1", "--port", str(port),
                                 "--log-level", "warning", "--no-access-log"],
                          env, port, tmp / f"{name}.log", cpu)

        bare = plain("bare", "bare_app")
        servers.append(bare)
        if args.fastapi:
            servers.append(plain("fastapi", "fastapi_app"))
        port = free_port()
        pw = Server("pricewise", [sys.executable, "-m", "pricewise.cli", "serve", "--no-demo",
                                  "--host", "127.0.0.1", "--port", str(port)],
                    env, port, tmp / "pricewise.log", cpu)
        servers.append(pw)
        for s in servers:
            s.wait_ready()

        auth = {"X-API-Key": key}
        for i in (1, 2):  # a list of three keys
            status, body = http("POST", pw.base + "/api-keys", auth, {"name": f"bench {i}", "role": "viewer"})
            if status != 201:
                raise RuntimeError(f"POST /api-keys answered {status}: {body}")
        status, keys = http("GET", pw.base + "/api-keys", auth)
        if status != 200 or not isinstance(keys, list) or not 1 <= len(keys) <= 3:
            raise RuntimeError(f"GET /api-keys answered {status}: {keys}")
        status, _ = http("GET", pw.base + "/api-keys")
        if status != 401:
            raise RuntimeError(f"GET /api-keys without a key answered {status}, not 401")

        targets: list[tuple[str, Server, str, dict[str, str]]] = [
            ("(a) bare Starlette /health", bare, "/health", {})]
        if args.fastapi:
            targets.append(("(ref) bare FastAPI /health", servers[1], "/health", {}))
        targets += [("(b) pricewise /health", pw, "/health", {}),
                    ("(c) pricewise /api-keys + X-API-Key", pw, "/api-keys", auth)]
        runs: list[list[Result]] = [[] for _ in targets]
        for round_ in range(args.repeat):  # rounds interleave the targets: load drifts hit them all
            for i, (label, server, path, headers) in enumerate(targets):
                url = server.base + path
                console.print(f"{label}: {args.warmup:g} s warm-up, {args.duration:g} s at "
                              f"{args.connections} connections ({impl})"
                              + (f", round {round_ + 1}/{args.repeat}" if args.repeat > 1 else ""))
                for seconds, keep in ((args.warmup, False), (args.duration, True)):
                    if seconds <= 0:
                        continue
                    cpu_before = cpu_seconds(server.proc.pid)
                    if impl == "wrk":
                        r = run_wrk(url, headers, seconds, args.connections, args.threads, lua)
                    else:
                        r = run_python(url, headers, seconds, args.connections)
                    cpu_after = cpu_seconds(server.proc.pid)
                    if cpu_before is not None and cpu_after is not None and r.requests:
                        r.cpu_us = (cpu_after - cpu_before) / r.requests * 1e6
                    if keep:
                        runs[i].append(r)
        results = [median_result(rs) for rs in runs]
        status, _ = http("GET", pw.base + "/api-keys", auth)
        if status != 200:
            raise RuntimeError(f"after the run GET /api-keys answered {status} (rate limit?)")
    finally:
        for s in servers:
            s.stop()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            console.print(f"kept {tmp}")

    a, b, c = results[0], results[-2], results[-1]
    info = machine()
    rounds = f", median of {args.repeat} rounds" if args.repeat > 1 else ""
    table = Table(title=f"API overhead: {args.connections} connections, {args.duration:g} s per target"
                        f"{rounds}, one uvicorn process per server")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "target" else "right")
    rows = [fmt_row(t[0], r, a) for t, r in zip(targets, results, strict=True)]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    share_b, share_c = b.rps / a.rps, c.rps / a.rps
    ok_share, ok_p99 = share_c >= TARGET_SHARE, c.p99 < TARGET_P99_MS
    mark = {True: "[green]met[/green]", False: "[red]missed[/red]"}
    console.print(f"rps(b)/rps(a) = {share_b:.2f}    rps(c)/rps(a) = {share_c:.2f}")
    console.print(f"target rps(c)/rps(a) >= {TARGET_SHARE:.2f}: {mark[ok_share]}    "
                  f"target p99(c) < {TARGET_P99_MS:g} ms: {mark[ok_p99]}")
    db_name = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite (fresh file)"
    console.print(
        f"machine: {info['cpus']} CPU(s) ({info['cpu']}), Python {info['python']}, {info['os']}; "
        f"database {db_name}; rate limits in {'Redis' if args.redis_url else 'process memory'}; "
        f"load from {impl}{f' -t{args.threads}' if impl == 'wrk' else ' (asyncio, own process)'}"
        f"{'; servers pinned to CPU 0, load to CPU 1' if pin else ''}.")
    console.print(
        "notes: the load generator runs on the same machine and takes CPU from the server under "
        f"test{' (only ' + str(cpus) + ' cores here)' if cpus <= 4 else ''}; compare ratios and "
        "CPU per request, not absolute req/s. "
        + ("PostgreSQL's own CPU is not in the server column and competes for the same cores. "
           if db_url.startswith("postgresql") else "")
        + "pricewise runs at PRICEWISE_LOG_LEVEL=WARNING: at INFO every request writes a JSON "
        "access-log line, which costs throughput.")
    if args.markdown:
        print()
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join(["---"] + ["---:"] * (len(COLUMNS) - 1)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
