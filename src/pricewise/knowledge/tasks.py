"""Documentation jobs: ingest a document when it is added or refreshed, an hourly sweep that
ingests documents left pending (a queue that was down, a crash between commit and enqueue) and
re-fetches URL documents checked more than a day ago (re-ingested only if their content changed;
failed ones tried again, for servers that were down), and, when PRICEWISE_OPENAI_VECTOR_STORES is
on, the sync of a document to its product's OpenAI vector store (knowledge/remote.py)."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from huey import crontab
from sqlalchemy import or_, select

from pricewise.core.base import utcnow
from pricewise.core.jobs import huey, run_async
from pricewise.knowledge import remote
from pricewise.knowledge.ingest import ingest
from pricewise.knowledge.models import KnowledgeDocument

log = logging.getLogger("pricewise.knowledge.tasks")
PENDING_GRACE = timedelta(minutes=10)
REFETCH_AFTER = timedelta(days=1)
SWEEP_LIMIT = 500


@huey.task(retries=2, retry_delay=10)  # type: ignore[untyped-decorator]
def ingest_document(tenant_id: str, document_id: str) -> str:
    return run_async(lambda ctx: ingest(ctx, tenant_id, document_id))


# Remote failures are retried by remote.run itself, with a growing wait; huey's retries are for
# our own errors (the database unreachable).
@huey.task(retries=2, retry_delay=10)  # type: ignore[untyped-decorator]
def sync_vector_store(tenant_id: str, document_id: str, attempt: int = 0) -> str:
    return run_async(lambda ctx: remote.run(ctx, tenant_id, document_id, attempt))


async def due(ctx: Any) -> list[tuple[str, str]]:
    """(tenant, document) pairs the sweep ingests: pending past the grace period, and URL
    documents (ingested or failed) last fetched more than REFETCH_AFTER ago."""
    now = utcnow()
    d = KnowledgeDocument
    stmt = select(d.tenant_id, d.id).where(d.deleted_at.is_(None), or_(
        (d.status == "pending") & (d.updated_at < now - PENDING_GRACE),
        d.status.in_(("ingested", "failed")) & d.source_url.is_not(None) & (d.fetched_at < now - REFETCH_AFTER),
    )).order_by(d.updated_at).limit(SWEEP_LIMIT)
    async with ctx.db.session() as session:
        return [(r[0], r[1]) for r in (await session.execute(stmt)).all()]


async def _sweep(ctx: Any) -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for tenant_id, document_id in await due(ctx):
        try:
            outcome = await ingest(ctx, tenant_id, document_id)
        except Exception:  # one document's failure must not hold back the others
            log.exception("ingestion of document %s of tenant %s failed", document_id, tenant_id)
            outcome = "error"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        log.info("documentation sweep: %s", outcomes)
    return outcomes


@huey.periodic_task(crontab(minute="23"))  # type: ignore[untyped-decorator]
def sweep_documents() -> dict[str, int]:
    return run_async(_sweep)
