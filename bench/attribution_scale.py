"""Attribution scale: GET /api/analytics/revenue-attribution over 1,000,000 daily revenue points.

The run builds a fresh database migrated by Alembic, adds the local tenant and one product with
--segments x --plans segments and plans, and one contribution per segment x plan pair (400 by
default). Each contribution gets one revenue point a day, --points / contributions days ending on
2025-12-31 (2,500 days, about 6.8 years, by default), and one subscriptions point on the last day
of each month. Revenue follows a per-pair level, a yearly growth rate, a weekly pattern (quieter
weekends) and noise; subscriptions are the month's revenue over the pair's revenue per user.
Rows go in with SQLAlchemy Core bulk inserts, each pair's history in one go (--layout pair, as
an import writes them) or day by day across pairs (--layout day, as a daily sync would, which
spreads each pair's rows over the whole table); then the tables are analysed (VACUUM ANALYZE on
PostgreSQL, as autovacuum would after such a load; ANALYZE on SQLite).

It then measures through the real app in this process (httpx over ASGI on
create_app(settings, auth_mode="local"), entered with its lifespan), one request at a time:

  GET /api/analytics/revenue-attribution?product_id=<the product>&timeRange=<all | 12m | 3m>

For each range a new app is started (new connections, nothing cached in the process) and its
first request is reported as **cold**; after --warmup unmeasured requests, --requests measured
ones give p50 and p95. Every answer is checked against the generated data: total revenue of the
range, one item per pair, one timeSeries entry per month.

    python bench/attribution_scale.py [--points 1000000] [--requests 20] [--layout pair|day]
                                      [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<db>]

With --database-url the database named in the URL is created (it must not exist yet) and dropped
afterwards; without it the run uses a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import chain
from pathlib import Path
from typing import Any

from benchinfo import machine
from catalog_scale import Latency, pg_create, pg_drop

TARGET_MS = 1000.0
LAST_DAY = date(2025, 12, 31)
RANGES = ("all", "12m", "3m")
INSERT_CHUNK = 10_000

SEGMENT_NAMES = ["Solo", "Startup", "Small business", "Mid-market", "Enterprise", "Global enterprise",
                 "Agency", "Nonprofit", "Public sector", "Education", "Franchise", "Scale-up", "Fintech",
                 "Healthcare", "Retail", "Logistics", "Media", "Gaming", "Legal", "Hospitality"]
PLAN_NAMES = ["Free", "Starter", "Basic", "Team", "Growth", "Pro", "Business", "Premium", "Scale",
              "Enterprise", "Ultimate", "Developer", "Analytics", "Compliance", "Support+", "API",
              "Usage", "Seats", "Annual", "Partner"]


def name(names: list[str], n: int) -> str:
    return names[n % len(names)] + (f" {n // len(names) + 1}" if n >= len(names) else "")


@dataclass
class Built:
    tenant_id: str
    product_id: str
    contributions: int
    days: int
    revenue_points: int
    subscription_points: int
    build_s: float
    month_revenue: dict[date, float] = field(default_factory=dict)  # month -> revenue of all pairs

    def expected(self, time_range: str) -> tuple[float, int]:
        """(total revenue, months) of a range, resolved as the service does against the last month."""
        months = sorted(self.month_revenue)
        last = months[-1]
        if time_range != "all":
            n = int(time_range.removesuffix("m"))
            idx = last.year * 12 + last.month - 1 - (n - 1)
            months = [m for m in months if m >= date(idx // 12, idx % 12 + 1, 1)]
        return sum(self.month_revenue[m] for m in months), len(months)


def series_rows(rng: random.Random, tenant_id: str, contribution_id: str, days: int,
                month_revenue: dict[date, float]) -> Iterator[dict[str, Any]]:
    """One pair's daily revenue and month-end subscriptions."""
    level = rng.lognormvariate(math.log(400.0), 0.9)  # revenue per day at the start
    growth = rng.uniform(-0.05, 0.45) / 365.0  # per day
    arpu = rng.choice([9, 19, 29, 49, 99, 199, 499]) * rng.uniform(0.8, 1.2)  # revenue per user a month
    weekend = rng.uniform(0.3, 0.9)
    first = LAST_DAY - timedelta(days=days - 1)
    month_sum = 0.0
    for n in range(days):
        d = first + timedelta(days=n)
        value = level * math.exp(growth * n) * (weekend if d.weekday() >= 5 else 1.0) * rng.uniform(0.85, 1.15)
        value = round(value, 2)
        month_sum += value
        yield {"tenant_id": tenant_id, "contribution_id": contribution_id, "metric": "revenue", "date": d,
               "value": value}
        if (d + timedelta(days=1)).day == 1 or n == days - 1:
            month_revenue[date(d.year, d.month, 1)] += month_sum
            yield {"tenant_id": tenant_id, "contribution_id": contribution_id, "metric": "subscriptions",
                   "date": d, "value": float(max(1, round(month_sum / arpu)))}
            month_sum = 0.0


async def fill(url: str, args: argparse.Namespace) -> Built:
    from sqlalchemy import text

    from pricewise.accounts.service import ensure_local_tenant
    from pricewise.analytics.models import Contribution, SeriesPoint
    from pricewise.catalog.models import CustomerSegment, PricingPlan, Product
    from pricewise.core.db import Database, commit
    from pricewise.core.ids import new_id

    rng = random.Random(args.seed)
    db = Database(url)
    pairs = args.segments * args.plans
    days = args.points // pairs
    try:
        async with db.session() as session:
            tenant_id = (await ensure_local_tenant(session)).id
            await commit(session)
        at = datetime.now(UTC) - timedelta(days=1)
        common = {"tenant_id": tenant_id, "created_at": at, "updated_at": at, "deleted_at": None}
        product = {"id": new_id(), "name": "Analytics Cloud", **common}
        segs = [{"id": new_id(), "product_id": product["id"], "customer_segment_uid": f"SEG-{n:03d}",
                 "customer_segment_name": name(SEGMENT_NAMES, n), "customer_segment_description": "", **common}
                for n in range(args.segments)]
        plans = [{"id": new_id(), "product_id": product["id"], "plan_name": name(PLAN_NAMES, n),
                  "unit_price": Decimal(rng.choice([9, 19, 29, 49, 99, 199, 499])), **common}
                 for n in range(args.plans)]
        contribs = [{"id": new_id(), "product_id": product["id"], "segment_id": s["id"], "plan_id": p["id"],
                     **common} for s in segs for p in plans]
        month_revenue: dict[date, float] = defaultdict(float)
        revenue_points = subscription_points = 0
        async with db.engine.begin() as conn:
            await conn.execute(Product.__table__.insert(), [product])
            await conn.execute(CustomerSegment.__table__.insert(), segs)
            await conn.execute(PricingPlan.__table__.insert(), plans)
            await conn.execute(Contribution.__table__.insert(), contribs)
            batch: list[dict[str, Any]] = []
            series = [series_rows(random.Random(args.seed * 100_003 + n), tenant_id, c["id"], days, month_revenue)
                      for n, c in enumerate(contribs)]
            # "pair": each contribution's history in one go (an import); "day": one day of every
            # contribution after the other (a daily sync), so a pair's rows are spread over the table
            rows = chain.from_iterable(series if args.layout == "pair" else zip(*series, strict=True))
            for row in rows:
                batch.append(row)
                if row["metric"] == "revenue":
                    revenue_points += 1
                else:
                    subscription_points += 1
                if len(batch) >= INSERT_CHUNK:
                    await conn.execute(SeriesPoint.__table__.insert(), batch)
                    batch = []
            if batch:
                await conn.execute(SeriesPoint.__table__.insert(), batch)
        if db.is_postgres:
            async with db.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                await conn.execute(text("VACUUM ANALYZE"))
        else:
            async with db.engine.begin() as conn:
                await conn.execute(text("ANALYZE"))
        return Built(tenant_id, product["id"], len(contribs), days, revenue_points, subscription_points, 0.0,
                     dict(month_revenue))
    finally:
        await db.dispose()


@dataclass
class RangeResult:
    time_range: str
    months: int
    cold_ms: float
    warm: Latency
    app_cpu_ms: float  # this process, per warm request (SQLite's work included: it runs in-process)
    pg_cpu_ms: float | None  # the PostgreSQL backends of the database, per warm request


def pg_backends_cpu_s(db_name: str) -> float:
    """CPU seconds used so far by the PostgreSQL backends serving `db_name` on this machine (from
    /proc: a backend's title reads `postgres: <cluster>: <user> <database> <client> ...`). Parallel
    workers exit with their query and are not counted: a plan that uses them costs more than this."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if title.startswith("postgres:") and f" {db_name} " in title and "autovacuum" not in title:
                fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            continue
    return total / os.sysconf("SC_CLK_TCK")


async def measure(url: str, tmp: Path, built: Built, time_range: str, args: argparse.Namespace) -> RangeResult:
    import httpx

    from pricewise.app import create_app
    from pricewise.settings import Settings

    settings = Settings(database_url=url, var_dir=tmp / "var", secret_key=secrets.token_urlsafe(32),
                        redis_url=None, log_level="WARNING", rate_limit_requests_per_minute=1_000_000_000,
                        rate_limit_ai_requests_per_minute=1_000_000_000)
    app = create_app(settings, auth_mode="local")
    path = f"/api/analytics/revenue-attribution?product_id={built.product_id}&timeRange={time_range}"
    want_total, want_months = built.expected(time_range)

    async def call(client: httpx.AsyncClient) -> float:
        t0 = time.perf_counter()
        r = await client.get(path)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"GET {path} answered {r.status_code}: {r.text[:300]}")
        body = r.json()
        if (len(body["items"]) != built.contributions or len(body["timeSeries"]) != want_months
                or abs(body["totalRevenue"] - want_total) > 1e-9 * want_total + 0.01):
            raise RuntimeError(f"{time_range}: {len(body['items'])} items, {len(body['timeSeries'])} months, "
                               f"total {body['totalRevenue']}; expected {built.contributions} items, "
                               f"{want_months} months, total {want_total:.2f}")
        return ms

    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://localhost", timeout=600) as client:
        cold = await call(client)
        for _ in range(args.warmup):
            await call(client)
        db_name = url.rpartition("/")[2].split("?", 1)[0] if url.startswith("postgresql") else None
        cpu0, pg0 = time.process_time(), pg_backends_cpu_s(db_name) if db_name else 0.0
        warm = [await call(client) for _ in range(args.requests)]
        app_cpu = (time.process_time() - cpu0) * 1000 / args.requests
        pg_cpu = (pg_backends_cpu_s(db_name) - pg0) * 1000 / args.requests if db_name else None
    return RangeResult(time_range, want_months, cold, Latency.of(warm), app_cpu, pg_cpu)


def run(args: argparse.Namespace, tmp: Path) -> tuple[Built, list[RangeResult]]:
    from pricewise.core.migrate import upgrade

    url = args.database_url or f"sqlite+aiosqlite:///{tmp / 'attribution.db'}"
    if args.database_url:
        pg_create(url)
    try:
        t0 = time.perf_counter()
        upgrade(url)
        built = asyncio.run(fill(url, args))
        built.build_s = time.perf_counter() - t0
        print(f"built in {built.build_s:.1f} s: {built.contributions:,} contributions, "
              f"{built.revenue_points:,} revenue points ({built.days:,} days), "
              f"{built.subscription_points:,} subscriptions points", flush=True)
        results = []
        for tr in RANGES:
            results.append(asyncio.run(measure(url, tmp, built, tr, args)))
            r = results[-1]
            print(f"  {tr}: cold {r.cold_ms:.0f} ms, p50 {r.warm.p50:.0f} ms, p95 {r.warm.p95:.0f} ms", flush=True)
        return built, results
    finally:
        if args.database_url:
            pg_drop(url)


COLUMNS = ["database", "layout", "timeRange", "months", "cold ms", "p50 ms", "p95 ms", "app CPU ms",
           "PG CPU ms"]


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--points", type=int, default=1_000_000,
                    help="revenue points in total, one a day per contribution (default 1,000,000)")
    ap.add_argument("--segments", type=int, default=20, help="segments (default 20)")
    ap.add_argument("--plans", type=int, default=20, help="plans; one contribution per segment x plan (default 20)")
    ap.add_argument("--layout", choices=("pair", "day"), default="pair",
                    help="insert order: each pair's history in one go (default), or day by day across pairs")
    ap.add_argument("--requests", type=int, default=20, help="measured requests per range (default 20)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured requests per range after the cold one")
    ap.add_argument("--database-url", help="postgresql+asyncpg://.../<new db>: created, dropped after")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory (the SQLite file)")
    args = ap.parse_args()
    if args.database_url and not args.database_url.startswith("postgresql"):
        ap.error("--database-url must be a postgresql+asyncpg:// URL (without it a SQLite file is used)")
    if args.requests < 1 or args.warmup < 0 or args.segments < 1 or args.plans < 1:
        ap.error("--requests, --segments and --plans must be >= 1, --warmup >= 0")
    if args.points // (args.segments * args.plans) < 100:
        ap.error("--points must give every contribution at least 100 days")

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 120))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="pricewise-attribution-"))
    db_name = "PostgreSQL" if args.database_url else "SQLite"
    try:
        built, results = run(args, tmp)
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    info = machine()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table(title=f"Revenue attribution on {db_name}: {built.revenue_points:,} revenue points, "
                        f"{built.contributions:,} contributions; ms per request, cold = first request of a "
                        f"new app, then {args.requests} after {args.warmup} warm-up")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col in ("database", "layout", "timeRange") else "right")
    rows = [[db_name, args.layout, r.time_range, str(r.months), f"{r.cold_ms:.0f}", f"{r.warm.p50:.0f}",
             f"{r.warm.p95:.0f}", f"{r.app_cpu_ms:.0f}", "-" if r.pg_cpu_ms is None else f"{r.pg_cpu_ms:.0f}"]
            for r in results]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    worst = max(max(r.cold_ms, r.warm.p95) for r in results)
    console.print(f"target: every range < {TARGET_MS:g} ms (cold and p95): "
                  f"{'[green]met[/green]' if worst < TARGET_MS else '[red]missed[/red]'} (worst {worst:.0f} ms)")
    console.print(f"rows: {built.revenue_points:,} revenue + {built.subscription_points:,} subscriptions points, "
                  f"{built.contributions:,} contributions x {built.days:,} days; build {built.build_s:.1f} s "
                  f"(migrate + insert + analyse)")
    console.print("app CPU = CPU time of this process (app, in-process client, and SQLite, which runs in-process) "
                  "per warm request; PG CPU = CPU time of the database's PostgreSQL backends per warm request. "
                  "On an idle machine the latency is about their sum.")
    console.print(f"machine: {info['cpus']} CPU(s) ({info['cpu']}), Python {info['python']}, {info['os']}; "
                  f"database {db_name}; load average {load} (1/5/15 min) at the end.")
    if args.markdown:
        print()
        print("| " + " | ".join(COLUMNS) + " |")
        print("|---|---|---|" + "|".join(["---:"] * (len(COLUMNS) - 3)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
