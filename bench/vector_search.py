"""Vector search over product documentation: top-10 passages among 100,000 chunks of one tenant.

The run builds a fresh database migrated by Alembic, with the local tenant, one product and its
documents (100 documents of 1,000 chunks by default), every chunk a distinct passage of about
600 characters composed from a vocabulary of SaaS documentation sentences, embedded by the app's
own local embedder and stored as the ingestion job stores it (knowledge_chunks.embedding, float32).
Rows go in with SQLAlchemy Core bulk inserts.

It then measures, one call at a time after a warm-up, with k = 10 and the product as filter:

  cold        the first search of a process: reads every chunk's vector and builds the matrix
              (median of three, the held index dropped before each)
  service     knowledge.service.search_passages (documents check, query embedding, matrix
              product and partial sort, passage texts)
  route       POST /api/knowledge/search through the real app (httpx over ASGI on
              create_app(settings, auth_mode="local"), entered with its lifespan)
  top-k       the numpy part alone: matrix-vector product and partial sort over the held matrix
  new doc     a document of 10 chunks is added and the next search timed: the held matrix is
              rebuilt from its unchanged rows plus the new ones, not read again

    python bench/vector_search.py [--chunks 100000] [--per-doc 1000] [--queries 200] [--markdown]
                                  [--database-url postgresql+asyncpg://postgres@127.0.0.1:5432/<db>]

With --database-url the database named in the URL is created (it must not exist yet) and dropped
afterwards; without it the run uses a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchinfo import machine

TARGET_MS = 30.0
K = 10
INSERT_CHUNK = 2000
EMBED_CHUNK = 2000

FEATURES = ["single sign-on", "audit logs", "usage analytics", "the REST API", "custom dashboards", "webhooks",
            "role-based permissions", "data residency", "priority support", "workflow automation", "bulk import",
            "the Salesforce integration", "Slack notifications", "invoice billing", "SOC 2 reports", "sandboxes",
            "multi-currency invoicing", "seat management", "SCIM provisioning", "data export", "the mobile app",
            "scheduled reports", "alerting rules", "the billing portal", "API rate limits", "custom domains"]
ACTIONS = ["To enable {f}, open Settings and choose {s}.", "Administrators can configure {f} from the {s} page.",
           "{F} is available on the {t} plan and above.", "When {f} is turned on, every change is recorded.",
           "If {f} fails, check the {s} page and retry after a minute.", "{F} counts toward the {u} limit.",
           "Customers on the {t} plan get {f} at no extra cost.", "You can export the {f} history as CSV.",
           "{F} respects the permissions of each workspace role.", "Requests to {f} are retried three times.",
           "Billing for {f} is prorated when the plan changes mid-cycle.", "The {s} page lists every {u}."]
SECTIONS = ["Security", "Billing", "Integrations", "Workspace", "Members", "Developers", "Notifications"]
TIERS = ["Starter", "Team", "Business", "Enterprise"]
UNITS = ["seat", "API call", "workspace", "GB of storage", "active user", "event"]
QUERIES = ["how do I turn on single sign-on", "which plan includes audit logs", "export usage analytics as CSV",
           "webhook retries", "invoice proration when changing plan", "who can configure permissions",
           "SCIM user provisioning", "rate limits of the API", "custom domain setup", "data residency in the EU",
           "mobile app notifications", "scheduled report delivery", "alerting rules for usage spikes",
           "seat management for admins", "is SOC 2 report available", "Slack notification settings"]


def passage(rng: random.Random) -> str:
    parts = []
    while sum(len(p) + 1 for p in parts) < 600:
        f = rng.choice(FEATURES)
        parts.append(rng.choice(ACTIONS).format(f=f, F=f[0].upper() + f[1:], s=rng.choice(SECTIONS),
                                                 t=rng.choice(TIERS), u=rng.choice(UNITS)))
    return " ".join(parts)


@dataclass
class Latency:
    p50: float
    p95: float

    @classmethod
    def of(cls, ms: list[float]) -> Latency:
        s = sorted(ms)
        return cls(statistics.median(s), s[min(len(s) - 1, int(len(s) * 0.95))])


@dataclass
class Result:
    database: str
    chunks: int
    build_s: float
    cold_ms: float
    service: Latency
    route: Latency
    topk: Latency
    new_doc_ms: float
    matrix_mb: float
    hits_ok: float
    load: float  # the machine's 1-minute load average when the measurements ended


async def fill(url: str, n_chunks: int, per_doc: int, seed: int) -> tuple[str, str]:
    from pricewise.accounts.service import ensure_local_tenant
    from pricewise.catalog.models import Product
    from pricewise.core.db import Database, commit
    from pricewise.core.embeddings import get_embedder
    from pricewise.core.ids import new_id
    from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument

    rng = random.Random(seed)
    db = Database(url)
    try:
        async with db.session() as session:
            tenant_id = (await ensure_local_tenant(session)).id
            product = Product(id=new_id(), tenant_id=tenant_id, name="Bench Analytics", vector_store_id=None)
            session.add(product)
            await commit(session)
            product_id = product.id
        store = f"vs_{product_id}"
        embedder = get_embedder()
        async with db.engine.begin() as conn:
            for d in range((n_chunks + per_doc - 1) // per_doc):
                count = min(per_doc, n_chunks - d * per_doc)
                texts = [passage(rng) for _ in range(count)]
                doc_id = new_id()
                await conn.execute(KnowledgeDocument.__table__.insert(), [{
                    "id": doc_id, "tenant_id": tenant_id, "product_id": product_id, "vector_store_id": store,
                    "source_url": f"https://docs.bench.example/guide/{d}", "content_type": "text/html",
                    "content_hash": hashlib.sha256(f"{seed}-{d}".encode()).hexdigest(), "size_bytes": 0,
                    "status": "ingested", "chunk_count": count, "title": f"Guide {d}"}])
                rows: list[dict[str, Any]] = []
                for s in range(0, count, EMBED_CHUNK):
                    vectors = embedder.embed(texts[s:s + EMBED_CHUNK])
                    rows += [{"tenant_id": tenant_id, "document_id": doc_id, "product_id": product_id,
                              "vector_store_id": store, "ordinal": s + i, "text": t,
                              "embedding": v.tobytes()} for i, (t, v) in enumerate(
                        zip(texts[s:s + EMBED_CHUNK], vectors, strict=True))]
                for s in range(0, len(rows), INSERT_CHUNK):
                    await conn.execute(KnowledgeChunk.__table__.insert(), rows[s:s + INSERT_CHUNK])
        return tenant_id, product_id
    finally:
        await db.dispose()


async def add_document(url: str, tenant_id: str, product_id: str, rng: random.Random) -> None:
    """A small new document, written the way the ingestion job writes one."""
    from pricewise.core.db import Database
    from pricewise.core.embeddings import get_embedder
    from pricewise.core.ids import new_id
    from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument

    db = Database(url)
    try:
        texts = [passage(rng) for _ in range(10)]
        vectors = get_embedder().embed(texts)
        doc_id = new_id()
        async with db.engine.begin() as conn:
            await conn.execute(KnowledgeDocument.__table__.insert(), [{
                "id": doc_id, "tenant_id": tenant_id, "product_id": product_id, "vector_store_id": f"vs_{product_id}",
                "source_url": "https://docs.bench.example/new", "content_type": "text/html",
                "content_hash": secrets.token_hex(32), "size_bytes": 0, "status": "ingested", "chunk_count": 10}])
            await conn.execute(KnowledgeChunk.__table__.insert(), [{
                "tenant_id": tenant_id, "document_id": doc_id, "product_id": product_id,
                "vector_store_id": f"vs_{product_id}", "ordinal": i, "text": t, "embedding": v.tobytes()}
                for i, (t, v) in enumerate(zip(texts, vectors, strict=True))])
    finally:
        await db.dispose()


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = await fn()
    return (time.perf_counter() - t0) * 1000, out


async def measure(url: str, tmp: Path, tenant_id: str, product_id: str, args: argparse.Namespace,
                  build_s: float, label: str) -> Result:
    import httpx

    from pricewise.app import create_app
    from pricewise.core.embeddings import get_embedder
    from pricewise.core.tenancy import system_scope
    from pricewise.knowledge.index import cache
    from pricewise.knowledge.service import search_passages
    from pricewise.settings import Settings

    rng = random.Random(args.seed + 1)
    settings = Settings(database_url=url, var_dir=tmp / "var", secret_key=secrets.token_urlsafe(32),
                        redis_url=None, log_level="WARNING", rate_limit_requests_per_minute=1_000_000_000)
    app = create_app(settings, auth_mode="local")
    ctx = app.state.ctx
    queries = [rng.choice(QUERIES) for _ in range(args.queries + args.warmup)]
    for q in QUERIES:  # every token of the queries embedded once: not a cost of search
        get_embedder().embed([q])

    async def service_search(q: str) -> list[Any]:
        async with ctx.db.session() as session:
            scope = await system_scope(session, tenant_id, "bench")
            return await search_passages(scope, product_id, q, K)

    async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
        colds = []
        for _ in range(3):
            cache.clear()
            ms, found = await timed(lambda: service_search("how do I turn on single sign-on"))
            colds.append(ms)
            if len(found) != K:
                raise RuntimeError(f"expected {K} passages, got {len(found)}")
        service_ms, hits_ok = [], 0
        for i, q in enumerate(queries):
            ms, found = await timed(lambda q=q: service_search(q))  # type: ignore[misc]
            if i >= args.warmup:
                service_ms.append(ms)
                words = {w for w in re.findall(r"[a-z]{4,}", q.lower())}
                hits_ok += any(w in found[0].text.lower() for w in words)

        async def route(q: str) -> Any:
            r = await client.post("/api/knowledge/search", json={"query": q, "product_id": product_id, "k": K})
            if r.status_code != 200 or len(r.json()["results"]) != K:
                raise RuntimeError(f"route answered {r.status_code}: {r.text[:300]}")
            return r

        route_ms = []
        for i, q in enumerate(queries):
            ms, _ = await timed(lambda q=q: route(q))  # type: ignore[misc]
            if i >= args.warmup:
                route_ms.append(ms)

        async with ctx.db.session() as session:
            index, _ = await cache.index(await system_scope(session, tenant_id, "bench"))
        vectors = get_embedder().embed(queries)
        topk_ms = []
        for i, v in enumerate(vectors):
            t0 = time.perf_counter()
            index.top(v, K, product_id)
            if i >= args.warmup:
                topk_ms.append((time.perf_counter() - t0) * 1000)

        await add_document(url, tenant_id, product_id, rng)
        new_doc_ms, found = await timed(lambda: service_search("webhook retries"))
        async with ctx.db.session() as session:
            after, _ = await cache.index(await system_scope(session, tenant_id, "bench"))
        if len(after) != len(index) + 10:
            raise RuntimeError("the new document did not reach the index")
    return Result(label, len(index), build_s, statistics.median(colds), Latency.of(service_ms), Latency.of(route_ms),
                  Latency.of(topk_ms), new_doc_ms, index.matrix.nbytes / 2**20, hits_ok / args.queries,
                  os.getloadavg()[0])


def _pg_admin(url: str, sql: str) -> Any:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async def run() -> Any:
        eng = create_async_engine(url.rpartition("/")[0] + "/postgres", isolation_level="AUTOCOMMIT")
        try:
            async with eng.connect() as conn:
                result = await conn.execute(text(sql))
                return result.all() if sql.startswith("SELECT") else None
        finally:
            await eng.dispose()
    return asyncio.run(run())


def run_one(url: str | None, args: argparse.Namespace) -> Result:
    from pricewise.core.migrate import upgrade

    with tempfile.TemporaryDirectory(prefix="pricewise-vbench-") as tmp_dir:
        tmp = Path(tmp_dir)
        name = ""
        if url is None:
            url, label = f"sqlite+aiosqlite:///{tmp / 'bench.db'}", "SQLite"
        else:
            name = url.rpartition("/")[2].split("?", 1)[0]
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
                raise SystemExit("--database-url: the database name must be a plain lowercase identifier")
            if _pg_admin(url, f"SELECT 1 FROM pg_database WHERE datname = '{name}'"):
                raise SystemExit(f"database {name} already exists; name a new scratch database")
            _pg_admin(url, f"CREATE DATABASE {name}")
            label = "PostgreSQL"
        try:
            upgrade(url)
            t0 = time.perf_counter()
            tenant_id, product_id = asyncio.run(fill(url, args.chunks, args.per_doc, args.seed))
            build_s = time.perf_counter() - t0
            return asyncio.run(measure(url, tmp, tenant_id, product_id, args, build_s, label))
        finally:
            if name:
                _pg_admin(url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def table(results: list[Result]) -> str:
    head = ("| database | chunks | build s | cold load ms | service p50 | service p95 | route p50 | route p95 "
            "| top-k p50 | top-k p95 | after new doc ms | matrix MB | top hit shares a query word | load |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r.database} | {r.chunks:,} | {r.build_s:.0f} | {r.cold_ms:.0f} | {r.service.p50:.1f} | "
                     f"{r.service.p95:.1f} | {r.route.p50:.1f} | {r.route.p95:.1f} | {r.topk.p50:.1f} | "
                     f"{r.topk.p95:.1f} | {r.new_doc_ms:.0f} | {r.matrix_mb:.0f} | {r.hits_ok:.0%} | {r.load:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--per-doc", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--database-url", action="append", default=[],
                        help="a PostgreSQL URL naming a scratch database (repeatable); SQLite always runs")
    parser.add_argument("--markdown", action="store_true", help="print the machine line and the table only")
    args = parser.parse_args()
    logging.disable(logging.INFO)
    results = [run_one(None, args)] + [run_one(u, args) for u in args.database_url]
    info = machine()
    print(f"machine: {info['cpus']} CPUs ({info['cpu']}), Python {info['python']}, {info['os']}")
    print(f"k = {K}; ms per search; target: top-10 over 100,000 chunks under {TARGET_MS:.0f} ms")
    print(table(results))
    worst = max(r.route.p95 for r in results)
    if not args.markdown:
        print(f"\nroute p95 {'within' if worst < TARGET_MS else 'OVER'} the {TARGET_MS:.0f} ms target")
    sys.exit(0)


if __name__ == "__main__":
    main()
