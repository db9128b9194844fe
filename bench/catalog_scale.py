"""Catalog scale: list and search latency as one workspace grows to 100,000 catalog rows.

For each size (segments + plans + links in total: 40% segments, 20% plans, 40% links) the run
builds a fresh database migrated by Alembic, adds the local tenant, and fills it with SQLAlchemy
Core bulk inserts: segments, plans, links and the search_docs rows /search ranks, with embeddings
computed in batches by the same local embedder the app uses (on SQLite the FTS5 triggers index
the rows as they are inserted; on PostgreSQL the generated tsvector column does). Names and
descriptions are drawn from a vocabulary of SaaS words, so the full-text index and the embedding
table see realistic variety.

It then measures through the real app in this process (httpx over ASGI on
create_app(settings, auth_mode="local"), entered with its lifespan), one request at a time after
a warm-up:

  list     GET  /customer-segment/list?limit=50&offset=<random>
  listall  GET  /customer-segment/pricing-plan/link/listall?limit=50&offset=<random>
  search   POST /search, 1-3 vocabulary words or a short phrase sharing no word with the data

The first search of a size is reported on its own: it loads the tenant's vector matrix. Then
--edits times a segment is edited and one search measured right after it (the search that brings
the matrix up to date). Before the first build the embedding model is loaded and every vocabulary
word embedded once, so neither the build times nor the searches include that one-off cost.

    python bench/catalog_scale.py [--sizes 100,10000,100000] [--requests 200]
                                  [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<db>]

With --database-url the database named in the URL is created for each size (it must not exist
yet) and dropped afterwards; without it each size gets a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from benchinfo import machine

TARGET_SEARCH_P95_MS = 100.0
PAGE = 50
INSERT_CHUNK = 5000
EMBED_CHUNK = 2000

# --- the vocabulary ---------------------------------------------------------------------------

SIZES = ["Solo", "Startup", "Small business", "Mid-market", "Enterprise", "Global enterprise", "Agency",
         "Nonprofit", "Public sector", "Education", "Franchise", "Scale-up"]
INDUSTRIES = ["fintech", "healthcare", "e-commerce", "retail", "logistics", "manufacturing", "insurance",
              "real estate", "media", "gaming", "legal", "hospitality", "biotech", "telecom", "energy",
              "automotive", "travel", "construction", "marketing", "cybersecurity", "banking", "edtech",
              "agriculture", "pharma"]
ROLES = ["developers", "data teams", "finance teams", "marketing teams", "sales teams", "support teams",
         "operations managers", "IT admins", "product managers", "founders", "analysts", "designers",
         "HR teams", "procurement", "security teams", "engineering leaders", "recruiters", "accountants"]
NEEDS = ["single sign-on", "audit logs", "usage analytics", "API access", "custom dashboards",
         "role-based permissions", "data residency", "priority support", "workflow automation",
         "Salesforce integration", "Slack notifications", "invoice billing", "SOC 2 compliance",
         "unlimited projects", "white labeling", "sandbox environments", "forecasting", "revenue reporting",
         "seat management", "onboarding help", "HIPAA compliance", "mobile apps", "offline mode",
         "webhooks", "bulk import", "SLA guarantees", "dedicated success manager", "multi-currency invoicing"]
TRAITS = ["price sensitive", "fast growing", "seasonal demand", "high churn risk", "long sales cycles",
          "self-serve buyers", "procurement driven", "heavy API usage", "low engagement", "expanding seats",
          "annual contracts", "multi-region", "regulated", "budget constrained", "early adopters",
          "discount seekers", "loyal", "feature hungry", "usage spikes", "upsell ready"]
CHANNELS = ["self-serve signup", "inside sales", "partner resellers", "marketplace listing", "field sales",
            "product-led trials", "referrals", "conference leads", "affiliate partners"]
TIERS = ["Free", "Starter", "Basic", "Pro", "Plus", "Growth", "Team", "Business", "Premium", "Scale",
         "Enterprise", "Ultimate", "Essentials", "Advanced"]
PRODUCTS = ["Analytics", "CRM", "Billing", "Helpdesk", "Storage", "Messaging", "Monitoring", "Payroll",
            "Scheduling", "Forms", "Automation", "Security", "Email", "Video", "Docs", "Inventory",
            "Checkout", "Recruiting", "Survey", "Backup"]
VARIANTS = ["", "", "", " Annual", " Monthly", " EU", " APAC", " Legacy", " 2024", " 2025", " Nonprofit",
            " Education", " Lite", " Max"]
UNITS = ["seat", "user", "active user", "GB stored", "API call", "1,000 events", "transaction", "workspace",
         "project", "device", "location", "message", "minute", "contact", "agent"]
PERIODS = ["per month", "per year", "per quarter", "billed annually", "billed monthly", "pay as you go"]
UTILIZATION = ["monthly", "annual", "quarterly", "weekly", "daily", "per billing cycle"]
# Phrases that share no word with the generated data: only the embedding can find them.
SEMANTIC = ["big corporations", "small shops on a tight budget", "cheap plan for students", "hospitals and clinics",
            "banks and payment companies", "companies worried about regulation", "software engineers",
            "online stores", "yearly contract", "customer service people", "schools and universities",
            "government agencies", "pay for what you use", "charged by the gigabyte", "people who leave quickly",
            "startups that grow quickly", "tight identity controls", "factories", "hotels and restaurants",
            "lawyers", "doctors", "insurance brokers"]


def _words() -> list[str]:
    pool = [*SIZES, *INDUSTRIES, *ROLES, *NEEDS, *TRAITS, *CHANNELS, *TIERS, *PRODUCTS, *UNITS, *PERIODS]
    seen: dict[str, None] = {}
    for phrase in pool:
        for w in re.findall(r"[A-Za-z][A-Za-z-]+", phrase):
            if len(w) >= 3 and w.lower() not in {"per", "and", "the", "with"}:
                seen.setdefault(w.lower())
    return list(seen)


WORDS = _words()


def segment_row(rng: random.Random, n: int) -> tuple[str, str, str]:
    """(uid, name, description)"""
    size, industry, role = rng.choice(SIZES), rng.choice(INDUSTRIES), rng.choice(ROLES)
    need1, need2 = rng.sample(NEEDS, 2)
    trait1, trait2 = rng.sample(TRAITS, 2)
    name = f"{size} {industry} {role}"
    description = (f"{size} {industry} companies; {role} who need {need1} and {need2}. "
                   f"{trait1.capitalize()}, {trait2}; they buy through {rng.choice(CHANNELS)}.")
    return f"SEG-{n:06d}", name, description


def plan_row(rng: random.Random) -> tuple[str, Decimal, int, str, str]:
    """(name, unit_price, min_unit_count, unit_calculation_logic, min_unit_utilization_period)"""
    unit = rng.choice(UNITS)
    name = f"{rng.choice(PRODUCTS)} {rng.choice(TIERS)}{rng.choice(VARIANTS)}"
    minimum = rng.choice([1, 1, 1, 3, 5, 10, 25, 100])
    logic = (f"per {unit} {rng.choice(PERIODS)}, minimum {minimum} {unit}s; includes {rng.choice(NEEDS)}"
             + (f" and {rng.choice(NEEDS)}" if rng.random() < 0.5 else ""))
    price = Decimal(str(rng.choice([0, 4, 9, 12, 19, 29, 49, 79, 99, 149, 199, 299, 499, 999])))
    return name, price, minimum, logic, rng.choice(UTILIZATION)


def search_queries(rng: random.Random, n: int) -> list[str]:
    out = []
    for _ in range(n):
        if rng.random() < 0.25:
            out.append(rng.choice(SEMANTIC))
        else:
            out.append(" ".join(rng.sample(WORDS, rng.choice([1, 1, 2, 2, 3]))))
    return out


# --- building a database ------------------------------------------------------------------------

@dataclass
class Counts:
    segments: int
    plans: int
    links: int

    @classmethod
    def of(cls, total: int) -> Counts:
        segments = max(1, round(total * 0.4))
        plans = max(1, round(total * 0.2))
        return cls(segments, plans, max(0, total - segments - plans))

    @property
    def total(self) -> int:
        return self.segments + self.plans + self.links


def chunks(rows: list[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    for s in range(0, len(rows), size):
        yield rows[s:s + size]


async def fill(url: str, counts: Counts, seed: int) -> str:
    """Insert the local tenant and the catalog; returns the tenant id."""
    from pricewise.accounts.service import ensure_local_tenant
    from pricewise.catalog.models import CustomerSegment, PricingPlan, SearchDoc, SegmentPlanLink
    from pricewise.core.db import Database, commit
    from pricewise.core.embeddings import get_embedder, to_bytes
    from pricewise.core.ids import new_id

    rng = random.Random(seed)
    db = Database(url)
    try:
        async with db.session() as session:
            tenant_id = (await ensure_local_tenant(session)).id
            await commit(session)

        start = datetime.now(UTC) - timedelta(days=30)
        segs: list[dict[str, Any]] = []
        plans: list[dict[str, Any]] = []
        docs: list[dict[str, Any]] = []
        for n in range(counts.segments):
            uid, name, desc = segment_row(rng, n)
            at = start + timedelta(milliseconds=10 * n)
            segs.append({"id": new_id(), "tenant_id": tenant_id, "product_id": None, "customer_segment_uid": uid,
                         "customer_segment_name": name, "customer_segment_description": desc,
                         "created_at": at, "updated_at": at, "deleted_at": None})
            docs.append({"entity_type": "customer_segment", "entity_id": segs[-1]["id"], "title": name,
                         "body": f"{uid} {desc}", "updated_at": at})
        for n in range(counts.plans):
            name, price, minimum, logic, period = plan_row(rng)
            at = start + timedelta(milliseconds=10 * n + 5)
            plans.append({"id": new_id(), "tenant_id": tenant_id, "product_id": None, "plan_name": name,
                          "unit_price": price, "min_unit_count": minimum, "unit_calculation_logic": logic,
                          "min_unit_utilization_period": period, "currency": rng.choice(["USD", "USD", "EUR"]),
                          "cogs_per_unit": (price * Decimal("0.2")).quantize(Decimal("0.01")),
                          "created_at": at, "updated_at": at, "deleted_at": None})
            docs.append({"entity_type": "pricing_plan", "entity_id": plans[-1]["id"], "title": name,
                         "body": f"{logic} {period}", "updated_at": at})
        links: list[dict[str, Any]] = []
        for n in range(counts.links):
            experimental = rng.random() < 0.25
            at = start + timedelta(milliseconds=10 * n + 7)
            links.append({"id": new_id(), "tenant_id": tenant_id, "segment_id": rng.choice(segs)["id"],
                          "plan_id": rng.choice(plans)["id"],
                          "connection_type": "experimental" if experimental else "finalized",
                          "percentage": float(rng.choice([5, 10, 20, 25])) if experimental else None,
                          "is_active": rng.random() < 0.9, "created_at": at, "updated_at": at,
                          "deleted_at": None})

        embedder = get_embedder()
        texts = [f"{d['title']}. {d['body']}"[:2000] for d in docs]
        for s in range(0, len(docs), EMBED_CHUNK):
            vectors = embedder.embed(texts[s:s + EMBED_CHUNK])
            for d, v in zip(docs[s:s + EMBED_CHUNK], vectors, strict=True):
                d.update(id=new_id(), tenant_id=tenant_id, embedding=to_bytes(v))

        async with db.engine.begin() as conn:
            for table, rows in ((CustomerSegment.__table__, segs), (PricingPlan.__table__, plans),
                                (SegmentPlanLink.__table__, links), (SearchDoc.__table__, docs)):
                for part in chunks(rows, INSERT_CHUNK):
                    await conn.execute(table.insert(), part)
        return tenant_id
    finally:
        await db.dispose()


# --- PostgreSQL scratch databases --------------------------------------------------------------

def _pg_split(url: str) -> tuple[str, str]:
    base, _, name = url.rpartition("/")
    name = name.split("?", 1)[0]
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise SystemExit(f"--database-url: database name {name!r} must be a plain lowercase identifier")
    return base + "/postgres", name


async def _pg_admin(url: str, sql: str) -> Any:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    admin_url, _ = _pg_split(url)
    eng = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with eng.connect() as conn:
            return (await conn.execute(text(sql))).all() if sql.lstrip().upper().startswith("SELECT") \
                else await conn.execute(text(sql))
    finally:
        await eng.dispose()


def pg_create(url: str) -> None:
    _, name = _pg_split(url)
    if asyncio.run(_pg_admin(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'")):
        raise SystemExit(f"database {name} already exists; name a new scratch database (it is dropped at the end)")
    asyncio.run(_pg_admin(url, f"CREATE DATABASE {name}"))


def pg_drop(url: str) -> None:
    _, name = _pg_split(url)
    asyncio.run(_pg_admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


# --- measuring --------------------------------------------------------------------------------------

@dataclass
class Latency:
    p50: float
    p95: float

    @classmethod
    def of(cls, ms: list[float]) -> Latency:
        s = sorted(ms)

        def pct(p: float) -> float:
            return s[min(len(s) - 1, int(len(s) * p))]

        return cls(statistics.median(s), pct(0.95))


@dataclass
class SizeResult:
    counts: Counts
    build_s: float
    list_: Latency
    listall: Latency
    search: Latency
    first_search_ms: float
    after_edit: Latency
    search_hit_share: float


async def measure(url: str, tmp: Path, counts: Counts, args: argparse.Namespace
                  ) -> tuple[Latency, Latency, Latency, float, Latency, float, str]:
    import httpx

    from pricewise.app import create_app
    from pricewise.settings import Settings

    requests, warmup = args.requests, args.warmup
    rng = random.Random(args.seed + 1)
    settings = Settings(database_url=url, var_dir=tmp / "var", secret_key=secrets.token_urlsafe(32),
                        redis_url=None, log_level="WARNING", rate_limit_requests_per_minute=1_000_000_000,
                        rate_limit_ai_requests_per_minute=1_000_000_000)
    app = create_app(settings, auth_mode="local")

    async def call(client: httpx.AsyncClient, method: str, path: str, body: Any = None) -> tuple[float, Any]:
        t0 = time.perf_counter()
        r = await client.request(method, path, json=body)
        ms = (time.perf_counter() - t0) * 1000
        if r.status_code != 200:
            raise RuntimeError(f"{method} {path} answered {r.status_code}: {r.text[:300]}")
        return ms, r

    async def run(client: httpx.AsyncClient, make: Callable[[], tuple[str, str, Any]]) -> list[float]:
        for _ in range(warmup):
            await call(client, *make())
        return [(await call(client, *make()))[0] for _ in range(requests)]

    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench") as client:
        _, r = await call(client, "GET", "/customer-segment/list?limit=1")
        if int(r.headers["X-Total-Count"]) != counts.segments:
            raise RuntimeError(f"X-Total-Count {r.headers['X-Total-Count']} != {counts.segments} segments")

        def list_req() -> tuple[str, str, Any]:
            off = rng.randint(0, max(0, counts.segments - PAGE))
            return "GET", f"/customer-segment/list?limit={PAGE}&offset={off}", None

        def listall_req() -> tuple[str, str, Any]:
            off = rng.randint(0, max(0, counts.links - PAGE))
            return "GET", f"/customer-segment/pricing-plan/link/listall?limit={PAGE}&offset={off}", None

        list_ms = await run(client, list_req)
        listall_ms = await run(client, listall_req)

        first_ms, _ = await call(client, "POST", "/search", {"query": "enterprise analytics"})
        for q in SEMANTIC:  # every token the measured queries can use has been embedded once
            await call(client, "POST", "/search", {"query": q})
        queries = iter(search_queries(rng, warmup + requests + args.edits))
        hits = 0

        async def one_search() -> float:
            nonlocal hits
            ms, r = await call(client, "POST", "/search", {"query": next(queries), "limit": 20})
            hits += bool(r.json()["results"])
            return ms

        for _ in range(warmup):
            await one_search()
        hits = 0
        profiler: Any = None
        report = ""
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        search_ms = [await one_search() for _ in range(requests)]
        if profiler is not None:
            profiler.stop()
            report = profiler.output_text(unicode=True, color=False, show_all=False)

        # A segment is edited (its search doc re-embedded), then someone searches: the first search
        # after a write brings the tenant's vector matrix up to date.
        edit_ms = []
        for n in range(args.edits):
            _, r = await call(client, "GET", f"/customer-segment/list?limit=1&offset={rng.randrange(counts.segments)}")
            seg = r.json()[0]
            desc = segment_row(rng, n)[2]  # a new description from the vocabulary
            await call(client, "PUT", "/customer-segment/update",
                       {"id": seg["_id"], "customer_segment_description": desc})
            ms, _ = await call(client, "POST", "/search", {"query": next(queries), "limit": 20})
            edit_ms.append(ms)
    return (Latency.of(list_ms), Latency.of(listall_ms), Latency.of(search_ms), first_ms,
            Latency.of(edit_ms or [0.0]), hits / requests, report)


def warm_embedder() -> None:
    """Load the model and embed every vocabulary word and phrase once (a static embedder embeds a
    token the first time it sees it), so neither the first build nor the first queries pay for it."""
    from pricewise.core.embeddings import get_embedder

    pool = [*SIZES, *INDUSTRIES, *ROLES, *NEEDS, *TRAITS, *CHANNELS, *TIERS, *PRODUCTS, *VARIANTS, *UNITS,
            *PERIODS, *UTILIZATION, *SEMANTIC, *WORDS]
    get_embedder().embed([p for p in pool if p.strip()] + ["SEG-000123 minimum includes they buy through"])


def run_size(total: int, args: argparse.Namespace, tmp: Path) -> SizeResult:
    from pricewise.core.migrate import upgrade

    counts = Counts.of(total)
    if args.database_url:
        url = args.database_url
        pg_create(url)
    else:
        url = f"sqlite+aiosqlite:///{tmp / f'catalog-{total}.db'}"
    try:
        t0 = time.perf_counter()
        upgrade(url)
        asyncio.run(fill(url, counts, args.seed))
        build_s = time.perf_counter() - t0
        lst, lall, srch, first, edit, hit, report = asyncio.run(measure(url, tmp, counts, args))
        if args.profile:
            Path(f"{args.profile}.{total}.txt").write_text(report)
        return SizeResult(counts, build_s, lst, lall, srch, first, edit, hit)
    finally:
        if args.database_url:
            pg_drop(url)


# --- the run ---------------------------------------------------------------------------------------

COLUMNS = ["rows", "seg / plan / link", "build s", "list p50", "list p95", "listall p50",
           "listall p95", "search p50", "search p95", "1st search", "after edit", "search hits"]


def fmt(r: SizeResult) -> list[str]:
    c = r.counts
    return [f"{c.total:,}", f"{c.segments:,} / {c.plans:,} / {c.links:,}", f"{r.build_s:.1f}",
            f"{r.list_.p50:.1f}", f"{r.list_.p95:.1f}", f"{r.listall.p50:.1f}", f"{r.listall.p95:.1f}",
            f"{r.search.p50:.1f}", f"{r.search.p95:.1f}", f"{r.first_search_ms:.0f}", f"{r.after_edit.p50:.0f}",
            f"{r.search_hit_share:.0%}"]


def parse_sizes(value: str) -> list[int]:
    try:
        sizes = [int(v.replace("_", "").replace(",", "")) for v in value.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("sizes: comma-separated integers, e.g. 100,10000,100000") from None
    if not sizes or any(s < 3 for s in sizes):
        raise argparse.ArgumentTypeError("sizes: each size must be at least 3")
    return sizes


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--sizes", type=parse_sizes, default=[100, 10_000, 100_000],
                    help="total rows per database, comma-separated (default 100,10000,100000)")
    ap.add_argument("--requests", type=int, default=200, help="measured requests per route (default 200)")
    ap.add_argument("--warmup", type=int, default=20, help="unmeasured requests per route first (default 20)")
    ap.add_argument("--database-url", help="postgresql+asyncpg://.../<new db>: created per size, dropped after")
    ap.add_argument("--edits", type=int, default=10,
                    help="segment edits, each followed by one measured search (default 10)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--profile", help="write a pyinstrument profile of the search phase to PATH.<size>.txt")
    ap.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    if args.database_url and not args.database_url.startswith("postgresql"):
        ap.error("--database-url must be a postgresql+asyncpg:// URL (SQLite files are made per size)")
    if args.requests < 1 or args.warmup < 0 or args.edits < 0:
        ap.error("--requests must be >= 1, --warmup and --edits >= 0")
    if args.profile:
        try:
            import pyinstrument  # noqa: F401
        except ImportError:
            ap.error("--profile needs pyinstrument in this environment (pip install pyinstrument)")

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 170))
    logging.getLogger("alembic").setLevel(logging.WARNING)
    tmp = Path(tempfile.mkdtemp(prefix="pricewise-catalog-"))
    db_name = "PostgreSQL" if args.database_url else "SQLite"
    results: list[SizeResult] = []
    t0 = time.perf_counter()
    warm_embedder()
    console.print(f"embedder loaded and the vocabulary embedded once in {time.perf_counter() - t0:.1f} s")
    try:
        for total in args.sizes:
            console.print(f"{total:,} rows on {db_name}: building, then {args.warmup} warm-up and "
                          f"{args.requests} measured requests per route...")
            results.append(run_size(total, args, tmp))
            console.print(f"  built in {results[-1].build_s:.1f} s; search p95 {results[-1].search.p95:.1f} ms")
    finally:
        if args.keep:
            console.print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    info = machine()
    load = " / ".join(f"{x:.2f}" for x in os.getloadavg())
    table = Table(title=f"Catalog scale on {db_name}: ms per request, {args.requests} sequential requests "
                        f"per route after {args.warmup} warm-up, in-process ASGI")
    for col in COLUMNS:
        table.add_column(col, justify="left" if col == "seg / plan / link" else "right")
    rows = [fmt(r) for r in results]
    for row in rows:
        table.add_row(*row)
    console.print(table)
    largest = max(results, key=lambda r: r.counts.total)
    ok = largest.search.p95 < TARGET_SEARCH_P95_MS
    console.print(f"target: search p95 < {TARGET_SEARCH_P95_MS:g} ms at {largest.counts.total:,} rows: "
                  f"{'[green]met[/green]' if ok else '[red]missed[/red]'} ({largest.search.p95:.1f} ms)")
    console.print(f"machine: {info['cpus']} CPU(s) ({info['cpu']}), Python {info['python']}, {info['os']}; "
                  f"database {db_name}; load average {load} (1/5/15 min) at the end.")
    console.print("build s = migrate + fill (embeddings included); 1st search = the request that loads the "
                  "vector matrix; after edit = p50 of a search right after a segment edit; search hits = share "
                  "of queries with a result.")
    if args.markdown:
        print()
        print("| " + " | ".join(COLUMNS) + " |")
        print("|" + "|".join(["---:", "---"] + ["---:"] * (len(COLUMNS) - 2)) + "|")
        for row in rows:
            print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
