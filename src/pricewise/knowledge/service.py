"""Product documentation: documents from URLs or uploads, their ingestion queued after commit,
and passage search over their chunks. Services flush; the request boundary commits."""

from __future__ import annotations

import asyncio
import errno
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete

from pricewise.catalog.models import Product
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit
from pricewise.core.embeddings import get_embedder
from pricewise.core.errors import Conflict, StorageFull, invalid
from pricewise.core.events import emit
from pricewise.core.fetch import FetchError, FetchPolicy, check_signature, check_url, classify
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope
from pricewise.knowledge import remote
from pricewise.knowledge.index import cache
from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument
from pricewise.knowledge.vectors import Hit, VectorIndex
from pricewise.settings import Settings

log = logging.getLogger("pricewise.knowledge")
MAX_K = 50
INLINE_ROWS = 20_000  # ~2 ms of matrix product


@dataclass(frozen=True)
class Passage:
    text: str
    document_id: str
    source: str  # the document's URL or file name
    score: float  # cosine similarity of the passage and the query
    ordinal: int  # the passage's position in its document


def doc_out(d: KnowledgeDocument, remote_ids: dict[str, dict[str, str]] | None = None) -> dict[str, Any]:
    """`remote_ids` (remote.remote_ids): where the document is in an OpenAI vector store, if it is."""
    there = (remote_ids or {}).get(d.id, {})
    return {"_id": d.id, "product_id": d.product_id, "vector_store_id": d.vector_store_id,
            "openai_vector_store_id": there.get("vector_store_id"), "openai_file_id": there.get("file_id"),
            "source": d.source_url or d.filename, "source_url": d.source_url, "filename": d.filename,
            "title": d.title, "content_type": d.content_type, "size_bytes": d.size_bytes, "status": d.status,
            "error": d.error, "chunk_count": d.chunk_count, "content_hash": d.content_hash,
            "fetched_at": _iso_z(d.fetched_at), "created_at": _iso_z(d.created_at),
            "updated_at": _iso_z(d.updated_at)}


def store_id(product: Product) -> str:
    return product.vector_store_id or f"vs_{product.id}"


def upload_path(settings: Settings, tenant_id: str, document_id: str) -> Path:
    return settings.var_dir / "uploads" / tenant_id / document_id


# --- queueing ----------------------------------------------------------------------------

def queue_ingestion(scope: Scope, document_id: str) -> None:
    """Ingest the document once the unit of work has committed."""
    tenant_id = scope.tenant_id

    async def enqueue() -> None:
        from pricewise.knowledge.tasks import ingest_document

        try:  # the queue is file or network I/O: off the event loop
            await asyncio.to_thread(ingest_document, tenant_id, document_id)
        except Exception as exc:  # the queue is down: the row stays pending and the sweep retries
            log.warning("could not queue the ingestion of document %s (%s)", document_id, type(exc).__name__)

    after_commit(scope.session, enqueue)


# --- documents ---------------------------------------------------------------------------

async def _live_url_docs(scope: Scope, product_id: str) -> list[KnowledgeDocument]:
    return list(await scope.list(KnowledgeDocument, KnowledgeDocument.product_id == product_id,
                                 KnowledgeDocument.source_url.is_not(None)))


def _new_doc(scope: Scope, product: Product, **fields: Any) -> KnowledgeDocument:
    fields = {"size_bytes": 0, **fields}
    return scope.add(KnowledgeDocument(product_id=product.id, vector_store_id=store_id(product), status="pending",
                                       chunk_count=0, **fields))


async def add_url(scope: Scope, settings: Settings, product_id: str, url: str) -> tuple[KnowledgeDocument, bool]:
    """A URL document for a product (refused up front if its address may not be fetched). The same
    URL again refreshes the existing document. Returns (document, created)."""
    product = await scope.get(Product, product_id, label="product")
    url = url.strip()
    try:
        await check_url(url, FetchPolicy.from_settings(settings))
    except FetchError as exc:
        raise invalid("url", exc.reason) from None
    existing = next((d for d in await _live_url_docs(scope, product.id) if d.source_url == url), None)
    if existing is not None:
        queue_ingestion(scope, existing.id)
        return existing, False
    doc = _new_doc(scope, product, source_url=url)
    if url not in (product.product_documentations or []):
        product.product_documentations = [*(product.product_documentations or []), url]
    await scope.session.flush()
    queue_ingestion(scope, doc.id)
    return doc, True


def _filename(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if ch.isprintable()).strip()
    return base[:300] or "upload"


async def add_upload(scope: Scope, settings: Settings, product_id: str, filename: str | None,
                     claimed_type: str | None, data: bytes) -> KnowledgeDocument:
    """An uploaded file, kept under var_dir/uploads/<tenant>/<document> until it is ingested."""
    product = await scope.get(Product, product_id, label="product")
    name = _filename(filename)
    try:
        kind = classify(claimed_type, name)
        check_signature(kind, data[:1024])
    except FetchError as exc:
        raise invalid("file", exc.reason) from None
    doc = _new_doc(scope, product, filename=name, content_type=kind, size_bytes=len(data))
    await scope.session.flush()
    path = upload_path(settings, scope.tenant_id, doc.id)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.write_bytes(data)
        except BaseException:
            path.unlink(missing_ok=True)  # never leave part of a file behind
            raise

    try:
        await asyncio.to_thread(write)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # The raise rolls the request back: no document row either.
        log.error("upload storage %s is full: refused a file of %d bytes", settings.var_dir / "uploads", len(data))
        raise StorageFull("storage is full: the file was not kept; upload it again once space is freed",
                          fields=[{"field": "file", "message": "no space left to store it"}]) from None
    queue_ingestion(scope, doc.id)
    return doc


async def list_documents(scope: Scope, product_id: str | None, status: str | None, limit: int,
                         offset: int) -> tuple[list[KnowledgeDocument], int]:
    filters = []
    if product_id:
        filters.append(KnowledgeDocument.product_id == product_id)
    if status:
        filters.append(KnowledgeDocument.status == status)
    rows = await scope.list(KnowledgeDocument, *filters, order_by=KnowledgeDocument.created_at.desc(),
                            limit=limit, offset=offset)
    return list(rows), await scope.count(KnowledgeDocument, *filters)


async def get_document(scope: Scope, document_id: str) -> KnowledgeDocument:
    return await scope.get(KnowledgeDocument, document_id, label="document")


async def drop_chunks(scope: Scope, document_id: str) -> None:
    await scope.session.execute(delete(KnowledgeChunk).where(
        KnowledgeChunk.tenant_id == scope.tenant_id, KnowledgeChunk.document_id == document_id))


async def _remove(scope: Scope, settings: Settings | None, doc: KnowledgeDocument) -> None:
    """Soft delete: the row stays (audited), its chunks go, and so does a waiting upload."""
    chunks = doc.chunk_count
    scope.soft_delete(doc)
    doc.chunk_count = 0
    await drop_chunks(scope, doc.id)
    if settings is not None and doc.source_url is None:
        path = upload_path(settings, scope.tenant_id, doc.id)
        after_commit(scope.session, lambda: asyncio.to_thread(path.unlink, missing_ok=True))
    if chunks:
        emit(scope.session, scope.tenant_id, "vector_store_updated", {
            "product_id": doc.product_id, "vector_store_id": doc.vector_store_id, "document_id": doc.id,
            "chunks": 0, "status": "deleted"})
    await remote.queue_removal(scope, doc.id)  # its file in an OpenAI vector store, if any


async def delete_document(scope: Scope, settings: Settings, document_id: str) -> None:
    doc = await get_document(scope, document_id)
    await _remove(scope, settings, doc)
    if doc.source_url and doc.product_id:
        product = (await scope.session.execute(scope.select(Product, include_deleted=True).where(
            Product.id == doc.product_id))).scalar_one_or_none()
        if product is not None and doc.source_url in (product.product_documentations or []):
            product.product_documentations = [u for u in product.product_documentations if u != doc.source_url]
            product.updated_at = utcnow()
    await scope.session.flush()


async def refresh_document(scope: Scope, settings: Settings, document_id: str) -> KnowledgeDocument:
    """Fetch a URL document again (re-ingested only if its content changed), or ingest an upload
    that is still waiting."""
    doc = await get_document(scope, document_id)
    if doc.source_url is None and not await asyncio.to_thread(upload_path(settings, scope.tenant_id, doc.id).exists):
        raise Conflict("an uploaded document is refreshed by uploading the file again",
                       fields=[{"field": "document_id", "message": "uploaded file no longer kept"}])
    if doc.status == "failed":
        doc.status, doc.error = "pending", None
        await scope.session.flush()
    queue_ingestion(scope, doc.id)
    return doc


async def sync_product_urls(scope: Scope, product: Product) -> None:
    """After a product's `product_documentations` changed: a pending document for each new URL
    (ingested after commit), and the documents of URLs no longer listed removed."""
    urls = list(dict.fromkeys(u.strip() for u in (product.product_documentations or []) if isinstance(u, str)))
    docs = await _live_url_docs(scope, product.id)
    known = {d.source_url for d in docs}
    for doc in docs:
        if doc.source_url not in urls:
            await _remove(scope, None, doc)
    added = [_new_doc(scope, product, source_url=u) for u in urls if u not in known]
    await scope.session.flush()
    for doc in added:
        queue_ingestion(scope, doc.id)


# --- search ------------------------------------------------------------------------------

def _embed(query: str) -> Any:
    return get_embedder().embed([query[:1000]])[0]


async def search_passages(scope: Scope, product_id: str | None, query: str, k: int = 5) -> list[Passage]:
    """The k passages of the tenant's ingested documentation nearest in meaning to the query,
    within one product's documents when product_id is given; [] when there are none."""
    query = query.strip()
    k = max(0, min(int(k), MAX_K))
    if not query or not k:
        return []

    def nearest(index: VectorIndex) -> list[Hit]:
        return index.top(_embed(query), k, product_id)

    def rows(index: VectorIndex) -> int:
        start, end = (0, len(index)) if product_id is None else index.groups.get(product_id, (0, 0))
        return max(end - start, 0)

    # A large matrix product runs in a worker thread (numpy releases the GIL: the loop keeps
    # serving), started on the index this process holds while the database says whether it is
    # current; it is redone when it was not. A small product costs less than the hop.
    guess = cache.peek(scope.tenant_id)
    ahead = (asyncio.ensure_future(asyncio.to_thread(nearest, guess))
             if guess is not None and rows(guess) > INLINE_ROWS else None)
    if ahead is not None:  # its outcome is read even when it is not used
        ahead.add_done_callback(lambda f: f.cancelled() or f.exception())
    index, meta = await cache.index(scope)
    if not rows(index):
        return []
    if ahead is not None and index is guess:
        hits = await ahead
    else:
        hits = await asyncio.to_thread(nearest, index) if rows(index) > INLINE_ROWS else nearest(index)
    texts = await cache.texts(scope, [h.chunk_id for h in hits])
    out = []
    for h in hits:
        text = texts.get(h.chunk_id)
        if text is None or h.doc_id not in meta:  # removed since the index was read
            continue
        out.append(Passage(text=text, document_id=h.doc_id, source=meta[h.doc_id].source,
                           score=round(h.score, 4), ordinal=h.ordinal))
    return out


def passage_out(p: Passage) -> dict[str, Any]:
    return {"text": p.text, "document_id": p.document_id, "source": p.source, "score": p.score,
            "ordinal": p.ordinal}
