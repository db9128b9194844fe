"""The per-process cache of each tenant's vector index (knowledge/vectors.py).

Every search first reads the tenant's ingested documents (id, product, content hash, chunk count:
a few rows from the (tenant_id, product_id) index, never the chunks) and compares them with the
documents the held index was built from. The comparison is on content, not on a timestamp or a
row count, so a write of any process, committed in any order, is noticed by the next search.
When something differs, only the chunks of the added or changed documents are read; unchanged
documents keep their rows, removed ones are left out of the rebuilt index.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from dataclasses import dataclass
from itertools import groupby

from sqlalchemy import bindparam, select

from pricewise.core.tenancy import Prepared, Scope
from pricewise.knowledge.models import KnowledgeChunk, KnowledgeDocument
from pricewise.knowledge.vectors import EMPTY, DocRows, VectorIndex, Wanted

MAX_TENANTS = 32  # indexes held per process, least recently used dropped first
NO_PRODUCT = ""  # the group of documents without a product

_DOCS = Prepared(KnowledgeDocument, KnowledgeDocument.id, KnowledgeDocument.product_id,
                 KnowledgeDocument.content_hash, KnowledgeDocument.chunk_count, KnowledgeDocument.source_url,
                 KnowledgeDocument.filename, KnowledgeDocument.title,
                 where=[KnowledgeDocument.status == "ingested"])
_CHUNKS = (select(KnowledgeChunk.document_id, KnowledgeChunk.id, KnowledgeChunk.ordinal, KnowledgeChunk.embedding)
           .where(KnowledgeChunk.tenant_id == bindparam("tenant"),
                  KnowledgeChunk.document_id.in_(bindparam("docs", expanding=True)))
           .order_by(KnowledgeChunk.document_id, KnowledgeChunk.ordinal))
_TEXTS = (select(KnowledgeChunk.id, KnowledgeChunk.text)
          .where(KnowledgeChunk.tenant_id == bindparam("tenant"),
                 KnowledgeChunk.id.in_(bindparam("ids", expanding=True))))
LOAD_BATCH = 200  # documents per chunk query


@dataclass(frozen=True)
class DocMeta:
    source: str
    title: str | None


class IndexCache:
    def __init__(self, max_tenants: int = MAX_TENANTS) -> None:
        self._held: OrderedDict[str, VectorIndex] = OrderedDict()
        self._lock = threading.Lock()  # jobs search from their own threads and loops
        self.max_tenants = max_tenants

    def clear(self) -> None:
        with self._lock:
            self._held.clear()

    def peek(self, tenant_id: str) -> VectorIndex | None:
        """The index held for the tenant, unchecked: a search may start on it while the check runs."""
        with self._lock:
            return self._held.get(tenant_id)

    async def index(self, scope: Scope) -> tuple[VectorIndex, dict[str, DocMeta]]:
        docs = await scope.rows(_DOCS)
        wanted: Wanted = {d.id: (d.product_id or NO_PRODUCT, (d.content_hash, d.chunk_count)) for d in docs}
        meta = {d.id: DocMeta(d.source_url or d.filename or d.id, d.title) for d in docs}
        with self._lock:
            held = self._held.get(scope.tenant_id, EMPTY)
            if scope.tenant_id in self._held:
                self._held.move_to_end(scope.tenant_id)
        if held.holds_exactly(wanted):
            return held, meta
        fresh = await self._load(scope, held.stale(wanted), wanted)
        # Copying a large matrix takes tens of milliseconds: off the event loop.
        index = await asyncio.to_thread(held.updated, wanted, fresh)
        with self._lock:
            self._held[scope.tenant_id] = index
            self._held.move_to_end(scope.tenant_id)
            while len(self._held) > self.max_tenants:
                self._held.popitem(last=False)
        return index, meta

    @staticmethod
    async def _load(scope: Scope, doc_ids: list[str], wanted: Wanted) -> list[DocRows]:
        out: list[DocRows] = []
        found: set[str] = set()
        for s in range(0, len(doc_ids), LOAD_BATCH):
            rows = (await scope.session.execute(
                _CHUNKS, {"tenant": scope.tenant_id, "docs": doc_ids[s:s + LOAD_BATCH]})).all()
            for doc_id, group in groupby(rows, key=lambda r: r[0]):
                found.add(doc_id)
                out.append(DocRows.from_rows(doc_id, *wanted[doc_id], ((r[1], r[2], r[3]) for r in group)))
        # Documents whose chunks were not there (a delete since): known empty until they change.
        out.extend(DocRows.from_rows(d, *wanted[d], ()) for d in doc_ids if d not in found)
        return out

    @staticmethod
    async def texts(scope: Scope, chunk_ids: list[int]) -> dict[int, str]:
        if not chunk_ids:
            return {}
        rows = (await scope.session.execute(_TEXTS, {"tenant": scope.tenant_id, "ids": chunk_ids})).all()
        return {int(r[0]): r[1] for r in rows}


cache = IndexCache()
