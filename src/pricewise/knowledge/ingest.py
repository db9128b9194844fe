"""Ingestion of one document, the body of the background job.

fetch (URL, through core/fetch.py) or read the kept upload -> same content hash as the stored
one: nothing rewritten -> extract text -> chunk -> embed -> in one transaction, the document's
chunks replaced and the document marked ingested (-> with PRICEWISE_OPENAI_VECTOR_STORES, the
remote sync queued: knowledge/remote.py). Any refusal (address, size, type, signature,
unreadable file) marks the document failed with its reason and leaves it without chunks. The
network and the CPU work happen outside any database transaction; the write transaction starts
with a write, so that it holds the document's row (PostgreSQL) or the database's write lock
(SQLite) before it reads the state it decides on.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import insert, update

from pricewise.catalog.models import Product
from pricewise.core.base import utcnow
from pricewise.core.db import commit
from pricewise.core.embeddings import get_embedder
from pricewise.core.events import emit
from pricewise.core.fetch import FetchError, FetchPolicy, fetch
from pricewise.core.tenancy import Scope, system_scope
from pricewise.knowledge import remote, service
from pricewise.knowledge.chunking import TooManyChunks, chunk
from pricewise.knowledge.extract import ExtractError, extract
from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument

log = logging.getLogger("pricewise.knowledge.ingest")
EMBED_BATCH = 256
INSERT_BATCH = 1000


@dataclass(frozen=True)
class Content:
    body: bytes
    kind: str
    charset: str | None
    sha256: str


@dataclass(frozen=True)
class Parsed:
    title: str | None
    texts: list[str]
    vectors: np.ndarray[Any, np.dtype[np.float32]]


def _parse(content: Content) -> Parsed:
    """CPU work (a worker thread): text, passages and their embeddings."""
    extracted = extract(content.kind, content.body, content.charset)
    try:
        texts = chunk(extracted.text)
    except TooManyChunks as exc:
        raise ExtractError(str(exc)) from None
    embedder = get_embedder()
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    for s in range(0, len(texts), EMBED_BATCH):
        vectors[s:s + EMBED_BATCH] = embedder.embed(texts[s:s + EMBED_BATCH])
    return Parsed(extracted.title, texts, vectors)


async def _lock(scope: Scope, document_id: str) -> KnowledgeDocument | None:
    """Start the write transaction with a write on the document, then read it (None if deleted)."""
    done = await scope.session.execute(update(KnowledgeDocument).where(
        KnowledgeDocument.tenant_id == scope.tenant_id, KnowledgeDocument.id == document_id,
        KnowledgeDocument.deleted_at.is_(None)).values(updated_at=utcnow()))
    if not getattr(done, "rowcount", 0):
        return None
    return (await scope.session.execute(scope.select(KnowledgeDocument).where(
        KnowledgeDocument.id == document_id).execution_options(populate_existing=True))).scalar_one()


def _event(scope: Scope, doc: KnowledgeDocument) -> None:
    emit(scope.session, scope.tenant_id, "vector_store_updated", {
        "product_id": doc.product_id, "vector_store_id": doc.vector_store_id, "document_id": doc.id,
        "chunks": doc.chunk_count, "status": doc.status})


async def _finish(ctx: Any, session: Any) -> None:
    await commit(session)
    await ctx.events.publish_all(session.info.pop("events", []))


async def _store(ctx: Any, tenant_id: str, document_id: str, content: Content, parsed: Parsed) -> str:
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:knowledge")
        doc = await _lock(scope, document_id)
        if doc is None:
            return "missing"
        if doc.status == "ingested" and doc.content_hash == content.sha256:
            await session.rollback()
            return "unchanged"  # another job got there first
        if doc.product_id:
            product = (await session.execute(scope.select(Product, include_deleted=True).where(
                Product.id == doc.product_id))).scalar_one_or_none()
            if product is not None:
                if product.vector_store_id is None:
                    product.vector_store_id = service.store_id(product)
                doc.vector_store_id = product.vector_store_id
        await service.drop_chunks(scope, doc.id)
        rows = [{"tenant_id": tenant_id, "document_id": doc.id, "product_id": doc.product_id,
                 "vector_store_id": doc.vector_store_id, "ordinal": i, "text": text,
                 "embedding": parsed.vectors[i].tobytes()} for i, text in enumerate(parsed.texts)]
        for s in range(0, len(rows), INSERT_BATCH):
            await session.execute(insert(KnowledgeChunk), rows[s:s + INSERT_BATCH])
        now = utcnow()
        doc.status, doc.error, doc.content_hash = "ingested", None, content.sha256
        doc.chunk_count, doc.content_type, doc.size_bytes = len(rows), content.kind, len(content.body)
        doc.title = (parsed.title or doc.title)
        doc.fetched_at = doc.updated_at = now
        _event(scope, doc)
        await _finish(ctx, session)
        return "ingested"


async def _fail(ctx: Any, tenant_id: str, document_id: str, reason: str) -> str:
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:knowledge")
        doc = await _lock(scope, document_id)
        if doc is None:
            return "missing"
        had = doc.chunk_count
        await service.drop_chunks(scope, doc.id)
        doc.status, doc.error, doc.chunk_count, doc.content_hash = "failed", reason[:1000], 0, None
        doc.fetched_at = utcnow()
        if had:
            _event(scope, doc)
        await _finish(ctx, session)
        return "failed"


async def _touch(ctx: Any, tenant_id: str, document_id: str) -> str:
    """Same content as stored: only the time it was last checked changes."""
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:knowledge")
        doc = await _lock(scope, document_id)
        if doc is None:
            return "missing"
        doc.fetched_at = utcnow()
        await _finish(ctx, session)
        return "unchanged"


@dataclass(frozen=True)
class _Doc:
    id: str
    source_url: str | None
    content_type: str | None
    status: str
    content_hash: str | None


async def _content(ctx: Any, tenant_id: str, doc: _Doc) -> Content:
    if doc.source_url:
        got = await fetch(doc.source_url, FetchPolicy.from_settings(ctx.settings))
        return Content(got.body, got.content_type, got.charset, got.sha256)
    path = service.upload_path(ctx.settings, tenant_id, doc.id)
    try:
        body = await asyncio.to_thread(path.read_bytes)
    except FileNotFoundError:
        raise ExtractError("the uploaded file is no longer kept; upload it again") from None
    return Content(body, doc.content_type or "text/plain", None, hashlib.sha256(body).hexdigest())


async def ingest(ctx: Any, tenant_id: str, document_id: str) -> str:
    """Ingest one document: "ingested", "unchanged", "failed" or "missing" (deleted since queued).
    Errors of our own (the database down) propagate, so that the job is retried."""
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, "system:knowledge")
        row = (await session.execute(scope.select(KnowledgeDocument).where(
            KnowledgeDocument.id == document_id))).scalar_one_or_none()
        if row is None:
            return "missing"
        doc = _Doc(row.id, row.source_url, row.content_type, row.status, row.content_hash)
        await session.rollback()  # no transaction held across the download
    try:
        content = await _content(ctx, tenant_id, doc)
        if doc.status == "ingested" and content.sha256 == doc.content_hash:
            outcome = await _touch(ctx, tenant_id, document_id)
        else:
            parsed = await asyncio.to_thread(_parse, content)
            outcome = await _store(ctx, tenant_id, document_id, content, parsed)
    except (FetchError, ExtractError) as exc:
        log.info("document %s of tenant %s refused: %s", document_id, tenant_id, exc.reason)
        outcome = await _fail(ctx, tenant_id, document_id, exc.reason)
    if doc.source_url is None:  # an upload is kept only until it is read into chunks (or refused)
        await asyncio.to_thread(service.upload_path(ctx.settings, tenant_id, document_id).unlink, missing_ok=True)
    if ctx.settings.openai_vector_stores and outcome != "missing":
        # after the local commit, in a job of its own: the remote store never holds this one up
        await remote.queue(tenant_id, document_id)
    return outcome
