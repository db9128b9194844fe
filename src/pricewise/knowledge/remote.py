"""Optional sync of product documentation to OpenAI vector stores (PRICEWISE_OPENAI_VECTOR_STORES).

After a document is ingested locally, a job (`tasks.sync_vector_store`) uploads its text as a
file, creates the product's vector store once and attaches the file; when the content changes the
new file replaces the old one, which is then removed; a document deleted or failed has its file
removed. The job uses the key the tenant's LLM calls use (accounts/llm.py: the platform key for
trial tenants, their own for pro and enterprise), so a tenant without one is not synced.

The local store stays the one that is searched: a failed sync never fails the ingestion. It is
logged (never with the key) and the job tries again, the wait doubling each time.

Remote ids are kept in `tenants.settings["openai_vector_stores"]`:

    {"products": {<product id>: {"vector_store_id": "vs_...",
                                 "files": {<document id>: {"file_id": "file-...", "content_hash": "...",
                                                           "synced_at": "..."}}}},
     "orphans": [{"file_id": "file-...", "vector_store_id": "vs_..."}, {"vector_store_id": "vs_..."}]}

Every change of that record is a short transaction that starts with a write on the tenant's row
(its row lock on PostgreSQL, the write lock on SQLite), so concurrent jobs never lose each other's
changes; no transaction is open during a remote call. A remote object to delete is first listed in
`orphans` and leaves the list once deleted, so a failed delete is tried again by the next job.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from pricewise.accounts.llm import openai_access
from pricewise.accounts.models import Tenant
from pricewise.catalog.models import Product
from pricewise.core.base import utcnow
from pricewise.core.db import after_commit, commit
from pricewise.core.events import Event
from pricewise.core.schemas import _iso_z
from pricewise.core.tenancy import Scope, system_scope
from pricewise.knowledge.chunking import rejoin
from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument
from pricewise.knowledge.openai_stores import RemoteError, VectorStoreClient

log = logging.getLogger("pricewise.knowledge.remote")
KEY = "openai_vector_stores"
ACTOR = "system:knowledge"
T = TypeVar("T")
State = dict[str, Any]


# --- the record ----------------------------------------------------------------------------

def _state(settings: Any) -> State:
    """The record out of a tenant's settings, as a fresh copy with its two parts always there."""
    found = settings.get(KEY) if isinstance(settings, dict) else None
    raw: dict[str, Any] = copy.deepcopy(found) if isinstance(found, dict) else {}
    products = raw.get("products")
    orphans = raw.get("orphans")
    return {"products": products if isinstance(products, dict) else {},
            "orphans": [o for o in orphans if isinstance(o, dict)] if isinstance(orphans, list) else []}


def _entry(state: State, document_id: str) -> tuple[str, dict[str, Any]] | None:
    """(product id, file entry) of a document that has a file in a vector store."""
    for pid, p in state["products"].items():
        entry = (p.get("files") or {}).get(document_id) if isinstance(p, dict) else None
        if isinstance(entry, dict) and entry.get("file_id"):
            return pid, entry
    return None


def _store_of(state: State, product_id: str) -> str | None:
    p = state["products"].get(product_id)
    store = p.get("vector_store_id") if isinstance(p, dict) else None
    return store if isinstance(store, str) and store else None


async def _read(session: AsyncSession, tenant_id: str) -> State:
    settings = (await session.execute(select(Tenant.settings).where(Tenant.id == tenant_id))).scalar_one_or_none()
    return _state(settings)


async def _change(ctx: Any, tenant_id: str, fn: Callable[[State], T]) -> T:
    """Apply fn to the record in a short transaction that holds the tenant's row."""
    async with ctx.db.session() as session:
        await system_scope(session, tenant_id, ACTOR)
        await session.execute(update(Tenant).where(Tenant.id == tenant_id).values(updated_at=Tenant.updated_at))
        tenant = (await session.execute(select(Tenant).where(Tenant.id == tenant_id)
                                        .execution_options(populate_existing=True))).scalar_one()
        state = _state(tenant.settings)
        out = fn(state)
        tenant.settings = {**(tenant.settings or {}), KEY: state}
        await commit(session)
    return out


async def remote_ids(scope: Scope) -> dict[str, dict[str, str]]:
    """Document id -> {"vector_store_id", "file_id"} of the tenant's synced documents."""
    state = await _read(scope.session, scope.tenant_id)
    out: dict[str, dict[str, str]] = {}
    for pid, p in state["products"].items():
        store = _store_of(state, pid)
        for doc_id, entry in ((p.get("files") or {}) if isinstance(p, dict) else {}).items():
            if store and isinstance(entry, dict) and entry.get("file_id"):
                out[doc_id] = {"vector_store_id": store, "file_id": str(entry["file_id"])}
    return out


# --- queueing ------------------------------------------------------------------------------

async def queue(tenant_id: str, document_id: str) -> None:
    """Queue the document's sync job; a queue that is down is logged (the next ingestion of the
    document queues it again)."""
    from pricewise.knowledge.tasks import sync_vector_store

    try:  # the queue is file or network I/O: off the event loop
        await asyncio.to_thread(sync_vector_store, tenant_id, document_id)
    except Exception as exc:
        log.warning("could not queue the vector store sync of document %s (%s)", document_id, type(exc).__name__)


async def queue_removal(scope: Scope, document_id: str) -> None:
    """A document leaving (deleted): its remote file is removed after the commit, if it has one.
    Looked up in the record, so this holds whether or not syncing is still switched on."""
    if _entry(await _read(scope.session, scope.tenant_id), document_id) is not None:
        tenant_id = scope.tenant_id
        after_commit(scope.session, lambda: queue(tenant_id, document_id))


def _schedule(tenant_id: str, document_id: str, attempt: int, delay: float) -> None:
    from pricewise.knowledge.tasks import sync_vector_store

    sync_vector_store.schedule(args=(tenant_id, document_id, attempt), delay=delay)


# --- the job -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Doc:
    """What the job needs of a document, read before any remote call (no session held)."""

    id: str
    product_id: str | None
    vector_store_id: str
    content_hash: str | None
    title: str | None
    filename: str | None
    source_url: str | None


async def run(ctx: Any, tenant_id: str, document_id: str, attempt: int = 0) -> str:
    """The job's body: sync, and on a remote failure schedule the next attempt (the wait doubling
    from openai_vector_store_retry_seconds) until openai_vector_store_max_attempts."""
    try:
        return await sync(ctx, tenant_id, document_id)
    except RemoteError as exc:  # its message is redacted: no key in it
        settings = ctx.settings
        tries = attempt + 1
        if tries >= settings.openai_vector_store_max_attempts:
            log.warning("vector store sync of document %s of tenant %s failed %d time(s), not retried until "
                        "the document is ingested again: %s", document_id, tenant_id, tries, exc)
            return "failed"
        delay = settings.openai_vector_store_retry_seconds * 2 ** attempt
        log.warning("vector store sync of document %s of tenant %s failed (attempt %d of %d), retrying in %gs: %s",
                    document_id, tenant_id, tries, settings.openai_vector_store_max_attempts, delay, exc)
        await asyncio.to_thread(_schedule, tenant_id, document_id, tries, delay)
        return "retrying"


async def sync(ctx: Any, tenant_id: str, document_id: str) -> str:
    """Bring the document's remote file in line with it: "synced", "current" (nothing to do),
    "removed", "nothing" (neither here nor there), "disabled" or "no_key". RemoteError when a
    remote call failed (the record keeps what was done, and what is left to delete)."""
    if not ctx.settings.openai_vector_stores:
        return "disabled"
    access = await openai_access(ctx, tenant_id)
    if access is None:
        return "no_key"
    client = VectorStoreClient(access.base_url, access.key, ctx.settings.llm_timeout_seconds)
    async with ctx.db.session() as session:
        scope = await system_scope(session, tenant_id, ACTOR)
        row = (await session.execute(scope.select(KnowledgeDocument, include_deleted=True).where(
            KnowledgeDocument.id == document_id))).scalar_one_or_none()
        doc = None if row is None else _Doc(row.id, row.product_id, row.vector_store_id, row.content_hash,
                                            row.title, row.filename, row.source_url)
        state = await _read(session, tenant_id)
        found = _entry(state, document_id)
        live = (doc if row is not None and row.deleted_at is None and row.status == "ingested"
                and row.chunk_count > 0 and row.product_id is not None else None)
        current = live is not None and found is not None and found[1].get("content_hash") == live.content_hash
        texts: list[str] = []
        name = ""
        if live is not None and not current:
            texts = list((await session.execute(select(KnowledgeChunk.text).where(
                KnowledgeChunk.tenant_id == tenant_id, KnowledgeChunk.document_id == document_id)
                .order_by(KnowledgeChunk.ordinal))).scalars())
            name = (await session.execute(select(Product.name).where(Product.id == live.product_id))).scalar() or ""
        await session.rollback()  # no transaction held across the remote calls
    await _clear_orphans(ctx, client, tenant_id, state["orphans"])  # left by an earlier attempt
    if current:
        return "current"
    if live is None:
        if found is None:
            return "nothing"
        return await _remove(ctx, client, tenant_id, document_id, doc)
    return await _upload(ctx, client, tenant_id, live, _store_of(state, str(live.product_id)), name, texts)


async def _announce(ctx: Any, tenant_id: str, doc: _Doc | None, document_id: str,
                    product_id: str | None, status: str, store: str | None, file_id: str | None) -> None:
    await ctx.events.publish(Event(tenant_id, "vector_store_updated", {
        "product_id": product_id, "vector_store_id": doc.vector_store_id if doc else None,
        "document_id": document_id, "status": status, "openai_vector_store_id": store,
        "openai_file_id": file_id}))


async def _remove(ctx: Any, client: VectorStoreClient, tenant_id: str, document_id: str,
                  doc: _Doc | None) -> str:
    def orphan(state: State) -> dict[str, Any] | None:
        found = _entry(state, document_id)
        if found is None:
            return None
        pid, entry = found
        del state["products"][pid]["files"][document_id]
        left = {"file_id": entry["file_id"], "vector_store_id": _store_of(state, pid)}
        state["orphans"].append(left)
        return {**left, "product_id": pid}

    left = await _change(ctx, tenant_id, orphan)
    if left is None:  # another job got there first
        return "nothing"
    await _clear_orphans(ctx, client, tenant_id, [left])
    await _announce(ctx, tenant_id, doc, document_id, left["product_id"], "unsynced", left["vector_store_id"], None)
    return "removed"


def _filename(doc: _Doc) -> str:
    base = doc.title or doc.filename or doc.source_url or "document"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", base).strip("-.")[:80] or "document"
    return f"{slug}-{doc.id}.txt"


async def _upload(ctx: Any, client: VectorStoreClient, tenant_id: str, doc: _Doc, store: str | None,
                  product_name: str, texts: list[str]) -> str:
    pid = str(doc.product_id)
    if store is None:  # the product's store, created once; a concurrent job's may have won meanwhile
        made = await client.create_store(f"{product_name or pid} documentation",
                                         {"pricewise_product_id": pid, "pricewise_tenant_id": tenant_id})

        def claim(state: State) -> str:
            current = _store_of(state, pid)
            if current is None:
                state["products"].setdefault(pid, {})["vector_store_id"] = made
                state["products"][pid].setdefault("files", {})
                return made
            state["orphans"].append({"vector_store_id": made})
            return current

        store = await _change(ctx, tenant_id, claim)
    head = [line for line in (f"Title: {doc.title}" if doc.title else "",
                              f"Source: {doc.source_url or doc.filename or doc.id}") if line]
    file_id = await client.upload_text(_filename(doc), "\n".join(head) + "\n\n" + rejoin(texts))
    try:
        await client.attach(store, file_id)
    except RemoteError:
        await _change(ctx, tenant_id, lambda s: s["orphans"].append({"file_id": file_id, "vector_store_id": store}))
        raise

    def record(state: State) -> list[dict[str, Any]]:
        if _store_of(state, pid) != store:  # the record moved on meanwhile: ours is not kept
            state["orphans"].append({"file_id": file_id, "vector_store_id": store})
            return [state["orphans"][-1]]
        files = state["products"][pid].setdefault("files", {})
        old = files.get(doc.id)
        files[doc.id] = {"file_id": file_id, "content_hash": doc.content_hash, "synced_at": _iso_z(utcnow())}
        if isinstance(old, dict) and old.get("file_id") and old["file_id"] != file_id:  # the replaced file
            state["orphans"].append({"file_id": old["file_id"], "vector_store_id": store})
            return [state["orphans"][-1]]
        return []

    replaced = await _change(ctx, tenant_id, record)
    await _announce(ctx, tenant_id, doc, doc.id, pid, "synced", store, file_id)
    await _clear_orphans(ctx, client, tenant_id, replaced)
    return "synced"


async def _clear_orphans(ctx: Any, client: VectorStoreClient, tenant_id: str, orphans: list[dict[str, Any]]) -> None:
    """Delete the listed remote objects, then take the deleted ones off the list. A failure stops
    here (RemoteError): what is left stays listed for the next attempt."""
    done: list[dict[str, Any]] = []
    try:
        for o in orphans:
            file_id, store = o.get("file_id"), o.get("vector_store_id")
            if file_id:
                if store:
                    await client.detach(store, file_id)
                await client.delete_file(file_id)
            elif store:
                await client.delete_store(store)
            done.append(o)
    finally:
        if done:
            def forget(state: State) -> None:
                gone = [(o.get("file_id"), o.get("vector_store_id")) for o in done]
                state["orphans"] = [o for o in state["orphans"]
                                    if (o.get("file_id"), o.get("vector_store_id")) not in gone]

            await _change(ctx, tenant_id, forget)
