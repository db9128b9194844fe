"""Hybrid search over products, segments and plans: full text (SQLite FTS5 / PostgreSQL
tsvector) fused with embedding similarity from the local model (core/embeddings.py).

score = 0.55 * meaning + 0.45 * text. text is the full-text rank scaled to [0, 1] within the
candidate set; meaning is the cosine rescaled from [0.25, 0.75] to [0, 1], because static
embeddings of unrelated short texts still sit around 0.3. Candidates are the union of the top
full-text and top vector hits; a vector-only hit needs meaning >= 0.35 to be shown.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import delete, func, literal_column, select, text

from pricewise.catalog.models import CustomerSegment, PricingPlan, Product, SearchDoc
from pricewise.core.base import utcnow
from pricewise.core.embeddings import DIM, Vec, cosine_top, embed_off_loop, get_embedder, static_embedder, to_bytes
from pricewise.core.ids import new_id
from pricewise.core.tenancy import Scope

W_VEC, W_TXT = 0.55, 0.45
CANDIDATES = 50
MIN_MEANING = 0.35
COS_FLOOR, COS_SPAN = 0.25, 0.5
INLINE_ROWS = 1_000  # up to this many docs the query's top-k runs on the event loop (~0.2 ms)
OVERFETCH = 4  # SQLite: index matches read per candidate before falling back to the joined query
LATE_COMMIT = timedelta(minutes=2)  # a cache refresh re-reads rows this much older than its newest
STOPWORDS = frozenset({
    "a", "about", "an", "and", "are", "as", "at", "be", "but", "by", "for", "from", "how", "in", "into", "is",
    "it", "its", "of", "on", "or", "our", "so", "than", "that", "the", "their", "them", "they", "this", "to",
    "was", "we", "what", "when", "where", "which", "who", "will", "with", "you", "your"})
_WORD = re.compile(r"[\w][\w'-]*", re.UNICODE)


def _doc(entity_type: str, entity: Any) -> tuple[str, str, str]:
    """(title, body, meaning): title and body are what full text matches and results show; the
    meaning vector is embedded from prose only. A segment's uid is a code ("SEG-ENT-2024"): found
    by full text, while in the vector it would only add noise (and unseen tokens to distil)."""
    if entity_type == "product":
        comps = " ".join(c.get("competitor_name", "") for c in (entity.competitors or []))
        body = " ".join(filter(None, [entity.icp_description, entity.features_description_summary,
                                      entity.category, entity.pricing_objective, comps]))
        return entity.name, body, f"{entity.name}. {body}"
    if entity_type == "customer_segment":
        name, text = entity.customer_segment_name, entity.customer_segment_description
        return name, f"{entity.customer_segment_uid} {text}", f"{name}. {text}"
    body = f"{entity.unit_calculation_logic} {entity.min_unit_utilization_period}"
    return entity.plan_name, body, f"{entity.plan_name}. {body}"


async def _upsert(scope: Scope, entity_type: str, entity: Any) -> None:
    """Index an entity. Callers leave its changes unflushed: the embedding (a thread hop, and the
    transformer for a new word) comes first, so the transaction starts writing, and on SQLite
    holds the file's single write lock, only for the statements that follow."""
    title, body, meaning = _doc(entity_type, entity)
    vec = (await embed_off_loop([meaning[:2000]]))[0]
    with scope.session.no_autoflush:  # a read: the writes go together in the flush below
        existing = (await scope.session.execute(scope.select(SearchDoc).where(
            SearchDoc.entity_type == entity_type, SearchDoc.entity_id == entity.id))).scalar_one_or_none()
    if existing is None:
        scope.add(SearchDoc(id=new_id(), entity_type=entity_type, entity_id=entity.id, title=title,
                            body=body, embedding=to_bytes(vec)))
    else:
        existing.title, existing.body, existing.embedding = title, body, to_bytes(vec)
        existing.updated_at = utcnow()
    await scope.session.flush()  # defaults (ids, timestamps) filled in for the response
    _cache.invalidate(scope.tenant_id)


async def index_product(scope: Scope, p: Product) -> None:
    await _upsert(scope, "product", p)


async def index_segment(scope: Scope, s: CustomerSegment) -> None:
    await _upsert(scope, "customer_segment", s)


async def index_plan(scope: Scope, p: PricingPlan) -> None:
    await _upsert(scope, "pricing_plan", p)


async def remove(scope: Scope, entity_type: str, entity_id: str) -> None:
    await scope.session.execute(delete(SearchDoc).where(
        SearchDoc.tenant_id == scope.tenant_id, SearchDoc.entity_type == entity_type,
        SearchDoc.entity_id == entity_id))
    _cache.invalidate(scope.tenant_id)


# --- the per-process vector cache ------------------------------------------------------

class _Matrix:
    """A tenant's docs as parallel lists plus one vector matrix (row n = ids[n]).

    A refresh changes it in place, synchronously on the event loop: rows keep their number and
    key, changed rows get their new text and vector, new rows are appended (the vectors live in
    a buffer with spare room, so appending rarely copies it). A request holding the matrix thus
    only ever sees rows it knows about, possibly newer."""

    def __init__(self, rows: Sequence[Any], sqlite: bool, latest: datetime | None) -> None:
        n = len(rows)
        self.count = n
        self.generation = 0  # how many refreshes changed it
        self.latest = latest
        self.ids: list[str] = [r.entity_id for r in rows]
        self.types: list[str] = [r.entity_type for r in rows]
        self.titles: list[str] = [r.title for r in rows]
        self.bodies: list[str] = [r.body for r in rows]
        self.index: dict[tuple[str, str], int] = {key: i for i, key in enumerate(zip(self.types, self.ids,
                                                                                     strict=True))}
        # SQLite: search_docs rowid (the search_fts rowid) -> row
        self.by_rowid: dict[int, int] | None = {r.rowid: i for i, r in enumerate(rows)} if sqlite else None
        self._buf = np.empty((n, DIM), dtype=np.float32)
        for i, r in enumerate(rows):  # one copy, straight into the matrix
            self._buf[i] = np.frombuffer(r.embedding, dtype=np.float32)
        self.vectors: Vec = self._buf[:n]

    @property
    def version(self) -> tuple[int, datetime | None]:
        return self.count, self.latest

    def apply(self, rows: Sequence[Any]) -> None:
        """Rows read since the last refresh: update the known ones, append the others."""
        added = [r for r in rows if (r.entity_type, r.entity_id) not in self.index]
        n = len(self.ids)
        if n + len(added) > self._buf.shape[0]:
            grown = np.empty((n + max(len(added), n // 8, 64), DIM), dtype=np.float32)
            grown[:n] = self._buf[:n]
            self._buf = grown
        for r in rows:
            key = (r.entity_type, r.entity_id)
            i = self.index.get(key)
            if i is None:
                i = len(self.ids)
                self.ids.append(r.entity_id)
                self.types.append(r.entity_type)
                self.titles.append(r.title)
                self.bodies.append(r.body)
                self.index[key] = i
            else:
                self.titles[i], self.bodies[i] = r.title, r.body
            self._buf[i] = np.frombuffer(r.embedding, dtype=np.float32)
            if self.by_rowid is not None:
                self.by_rowid[r.rowid] = i
        self.count = len(self.ids)
        self.vectors = self._buf[:self.count]
        self.generation += 1
        self.latest = max([*([self.latest] if self.latest else []), *(r.updated_at for r in rows)], default=None)


class _VectorCache:
    """One matrix per tenant. Every search reads the tenant's version (row count and latest
    update, both answered from the (tenant_id, updated_at) index), so every API process notices
    writes made by the others. When it moved, only the rows updated since the newest one the
    matrix holds (less LATE_COMMIT, for transactions that committed after a later one) are read
    and applied; when the row count then disagrees (a delete), the tenant is reloaded in full."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, _Matrix] = {}
        self._stale: set[str] = set()
        self._lock = threading.Lock()

    def invalidate(self, tenant_id: str) -> None:
        """A write of this process: the next search refreshes even if the version looks the same."""
        with self._lock:
            self._stale.add(tenant_id)

    @staticmethod
    def _select(scope: Scope, sqlite: bool, *extra: Any) -> Any:
        cols: list[Any] = [SearchDoc.entity_id, SearchDoc.entity_type, SearchDoc.title, SearchDoc.body,
                           SearchDoc.embedding, *extra]
        if sqlite:
            cols.append(literal_column("search_docs.rowid").label("rowid"))
        return scope.where(select(*cols), SearchDoc)

    async def _version(self, scope: Scope) -> tuple[int, datetime | None]:
        # Two scalar subqueries, not count() and max() in one aggregate: max() alone is a single
        # index seek, and count(*) a scan of the narrow index, never of the rows and their vectors.
        count = scope.where(select(func.count()).select_from(SearchDoc), SearchDoc).scalar_subquery()
        latest = scope.where(select(func.max(SearchDoc.updated_at)), SearchDoc).scalar_subquery()
        row = (await scope.session.execute(select(count, latest))).one()
        return int(row[0]), row[1]

    def peek(self, tenant_id: str) -> _Matrix | None:
        """The matrix held for the tenant, unchecked (None after a write of this process)."""
        return None if tenant_id in self._stale else self._by_tenant.get(tenant_id)

    async def get(self, scope: Scope) -> _Matrix:
        tenant = scope.tenant_id
        version = await self._version(scope)
        cached = self._by_tenant.get(tenant)
        if cached is not None and tenant not in self._stale and cached.version == version:
            return cached
        with self._lock:
            self._stale.discard(tenant)  # a write from here on marks the tenant again
        sqlite = scope.session.get_bind().dialect.name == "sqlite"
        if cached is not None and cached.latest is not None:
            rows = (await scope.session.execute(self._select(scope, sqlite, SearchDoc.updated_at).where(
                SearchDoc.updated_at >= cached.latest - LATE_COMMIT))).all()
            if len(cached.ids) + sum((r.entity_type, r.entity_id) not in cached.index for r in rows) == version[0]:
                cached.apply(rows)
                return cached
        # In table order on SQLite (no sort of the rows and their vectors), by id on PostgreSQL. The
        # version read above may be older than the rows: the next search then merges again.
        order = literal_column("search_docs.rowid") if sqlite else SearchDoc.id
        rows = (await scope.session.execute(self._select(scope, sqlite).order_by(order))).all()
        m = _Matrix(rows, sqlite, version[1])
        with self._lock:
            self._by_tenant[tenant] = m
        return m


_cache = _VectorCache()


# --- full text ---------------------------------------------------------------------------

def _terms(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)][:32]


def _text_terms(terms: list[str]) -> list[str]:
    """Stop words add nothing to a full-text rank but, prefix-matched, they match nearly every
    document, which then all have to be ranked: they are dropped unless nothing else is left."""
    kept = [t for t in terms if t not in STOPWORDS]
    return kept or terms


async def _fulltext(scope: Scope, terms: list[str], matrix: _Matrix) -> dict[tuple[str, str], float]:
    terms = _text_terms(terms)
    if not terms:
        return {}
    if scope.session.get_bind().dialect.name == "postgresql":
        tsq = " | ".join(f"{re.sub(r'[^0-9a-z_]', '', t)}:*" for t in terms if re.sub(r"[^0-9a-z_]", "", t))
        if not tsq:
            return {}
        sql = text("SELECT entity_type, entity_id, ts_rank_cd(tsv, q) AS r FROM search_docs, "
                   "to_tsquery('simple', :q) q WHERE tenant_id = :t AND tsv @@ q ORDER BY r DESC LIMIT :n")
        rows = (await scope.session.execute(sql, {"q": tsq, "t": scope.tenant_id, "n": CANDIDATES})).all()
        return {(r[0], r[1]): float(r[2]) for r in rows}
    match = " OR ".join('"' + t.replace('"', "") + '"' + ("*" if len(t) <= 3 or t == terms[-1] else "")
                        for t in terms)
    # The index's best matches over all tenants, mapped to this tenant's rows by rowid: no join to
    # search_docs per match. Exact whenever the over-fetch holds CANDIDATES of the tenant's rows (or
    # every match); otherwise the joined query ranks the tenant's matches alone.
    if matrix.by_rowid is not None:
        fetch = CANDIDATES * OVERFETCH
        rows = (await scope.session.execute(text(
            "SELECT rowid, -bm25(search_fts) FROM search_fts WHERE search_fts MATCH :q "
            "ORDER BY bm25(search_fts) LIMIT :k"), {"q": match, "k": fetch})).all()
        hits: dict[tuple[str, str], float] = {}
        for rowid, rank in rows:
            n = matrix.by_rowid.get(rowid)
            if n is not None:
                hits[(matrix.types[n], matrix.ids[n])] = float(rank)
                if len(hits) == CANDIDATES:
                    return hits
        if len(rows) < fetch:
            return hits
    rows = (await scope.session.execute(text(
        "SELECT d.entity_type, d.entity_id, -bm25(search_fts) AS r FROM search_fts "
        "JOIN search_docs d ON d.rowid = search_fts.rowid "
        "WHERE search_fts MATCH :q AND d.tenant_id = :t ORDER BY bm25(search_fts) LIMIT :n"),
        {"q": match, "t": scope.tenant_id, "n": CANDIDATES})).all()
    return {(r[0], r[1]): float(r[2]) for r in rows}


def _nearest(query: str, matrix: _Matrix) -> tuple[Vec, dict[tuple[str, str], float]]:
    """The query's vector and its CANDIDATES nearest docs (a thread: numpy releases the GIL)."""
    qv = get_embedder().embed([query[:1000]])[0]
    idx, scores = cosine_top(qv, matrix.vectors, CANDIDATES)
    return qv, {(matrix.types[i], matrix.ids[i]): float(s) for i, s in zip(idx, scores, strict=True)}


async def search(scope: Scope, query: str, limit: int = 20,
                 types: Sequence[str] | None = None) -> list[dict[str, Any]]:
    query = query.strip()
    terms = _terms(query)
    if not terms:
        return []
    semantic = len(query) >= 3  # one or two letters carry no meaning to embed
    # The embedding and the matrix product run in a worker thread on the matrix this process
    # already holds, while the database answers the version check and the full-text query; they
    # are redone if that check brought the matrix up to date.
    guess = _cache.peek(scope.tenant_id) if semantic else None
    # A small workspace's matrix with a query of known words takes microseconds: no thread then.
    inline = semantic and not static_embedder().unseen(query[:1000])
    ahead = (asyncio.ensure_future(asyncio.to_thread(_nearest, query, guess))
             if guess is not None and guess.count and not (inline and guess.count <= INLINE_ROWS) else None)
    if ahead is not None:  # its outcome is read even when it is not used
        ahead.add_done_callback(lambda f: f.cancelled() or f.exception())
    generation = guess.generation if guess is not None else -1
    try:
        matrix = await _cache.get(scope)
        text_hits = await _fulltext(scope, terms, matrix)
        vec_scores: dict[tuple[str, str], float] = {}
        if semantic and matrix.count:
            if ahead is not None and guess is matrix and generation == matrix.generation:
                qv, vec_scores = await ahead
            elif inline and matrix.count <= INLINE_ROWS:
                qv, vec_scores = _nearest(query, matrix)
            else:
                qv, vec_scores = await asyncio.to_thread(_nearest, query, matrix)
            index = matrix.index
            for key in text_hits:  # text hits also get their cosine, for a fair fusion
                if key not in vec_scores and key in index:
                    vec_scores[key] = float(matrix.vectors[index[key]] @ qv)
    finally:
        if ahead is not None and not ahead.done():
            ahead.cancel()
    top_text = max(text_hits.values(), default=0.0)
    results: list[dict[str, Any]] = []
    for key in set(text_hits) | set(vec_scores):
        if types and key[0] not in types:
            continue
        txt = text_hits.get(key, 0.0) / top_text if top_text > 0 else 0.0
        meaning = min(max((vec_scores.get(key, 0.0) - COS_FLOOR) / COS_SPAN, 0.0), 1.0)
        if key not in text_hits and meaning < MIN_MEANING:
            continue
        score = W_VEC * meaning + W_TXT * txt if semantic else txt
        n = matrix.index.get(key)
        if n is None:
            continue
        results.append({"type": key[0], "id": key[1], "title": matrix.titles[n],
                        "description": matrix.bodies[n][:300], "score": round(score, 4)})
    if semantic and not types:
        results += await _passages(scope, query)
    results.sort(key=lambda r: (-r["score"], r["title"]))
    return results[:limit]


PASSAGES = 5  # documentation passages among the results, one per document at most


async def _passages(scope: Scope, query: str) -> list[dict[str, Any]]:
    """Product documentation (knowledge/) as the client's "other" results: meaning only, on the
    same scale as the catalog's, so a passage ranks above an entity only by being closer."""
    from pricewise.knowledge.service import search_passages

    out: dict[str, dict[str, Any]] = {}
    for p in await search_passages(scope, None, query, k=PASSAGES * 3):
        meaning = min(max((p.score - COS_FLOOR) / COS_SPAN, 0.0), 1.0)
        if meaning >= MIN_MEANING and p.document_id not in out and len(out) < PASSAGES:
            out[p.document_id] = {"type": "other", "id": p.document_id, "title": p.source,
                                  "description": p.text[:300], "score": round(W_VEC * meaning, 4)}
    return list(out.values())
