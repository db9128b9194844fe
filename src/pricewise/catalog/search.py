"""Hybrid search over products, segments and plans: full text (SQLite FTS5 / PostgreSQL
tsvector) fused with embedding similarity from the local model (core/embeddings.py).

score = 0.55 * meaning + 0.45 * text. text is the full-text rank scaled to [0, 1] within the
candidate set; meaning is the cosine rescaled from [0.25, 0.75] to [0, 1], because static
embeddings of unrelated short texts still sit around 0.3. Candidates are the union of the top
full-text and top vector hits; a vector-only hit needs meaning >= 0.35 to be shown.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import delete, select, text

from pricewise.catalog.models import CustomerSegment, PricingPlan, Product, SearchDoc
from pricewise.core.base import utcnow
from pricewise.core.embeddings import Vec, cosine_top, get_embedder, to_bytes
from pricewise.core.ids import new_id
from pricewise.core.tenancy import Scope

W_VEC, W_TXT = 0.55, 0.45
CANDIDATES = 50
MIN_MEANING = 0.35
COS_FLOOR, COS_SPAN = 0.25, 0.5
_WORD = re.compile(r"[\w][\w'-]*", re.UNICODE)


def _doc(entity_type: str, entity: Any) -> tuple[str, str]:
    if entity_type == "product":
        comps = " ".join(c.get("competitor_name", "") for c in (entity.competitors or []))
        return entity.name, " ".join(filter(None, [entity.icp_description, entity.features_description_summary,
                                                   entity.category, entity.pricing_objective, comps]))
    if entity_type == "customer_segment":
        return entity.customer_segment_name, f"{entity.customer_segment_uid} {entity.customer_segment_description}"
    return entity.plan_name, f"{entity.unit_calculation_logic} {entity.min_unit_utilization_period}"


async def _upsert(scope: Scope, entity_type: str, entity: Any) -> None:
    title, body = _doc(entity_type, entity)
    vec = get_embedder().embed([f"{title}. {body}"[:2000]])[0]
    existing = (await scope.session.execute(scope.select(SearchDoc).where(
        SearchDoc.entity_type == entity_type, SearchDoc.entity_id == entity.id))).scalar_one_or_none()
    if existing is None:
        scope.add(SearchDoc(id=new_id(), entity_type=entity_type, entity_id=entity.id, title=title,
                            body=body, embedding=to_bytes(vec)))
    else:
        existing.title, existing.body, existing.embedding = title, body, to_bytes(vec)
        existing.updated_at = utcnow()
    await scope.session.flush()
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

@dataclass
class _Matrix:
    version: tuple[int, str]
    ids: list[str]
    types: list[str]
    titles: list[str]
    bodies: list[str]
    vectors: Vec


class _VectorCache:
    """One matrix per tenant, rebuilt when the tenant's docs change (count and latest update),
    so every API process notices writes made by the others."""

    def __init__(self) -> None:
        self._by_tenant: dict[str, _Matrix] = {}
        self._lock = threading.Lock()

    def invalidate(self, tenant_id: str) -> None:
        with self._lock:
            self._by_tenant.pop(tenant_id, None)

    async def get(self, scope: Scope) -> _Matrix:
        from sqlalchemy import func

        row = (await scope.session.execute(scope.where(
            select(func.count(SearchDoc.id), func.max(SearchDoc.updated_at)), SearchDoc))).one()
        version = (int(row[0]), str(row[1]))
        cached = self._by_tenant.get(scope.tenant_id)
        if cached is not None and cached.version == version:
            return cached
        rows = (await scope.session.execute(scope.where(select(
            SearchDoc.entity_id, SearchDoc.entity_type, SearchDoc.title, SearchDoc.body, SearchDoc.embedding),
            SearchDoc).order_by(SearchDoc.id))).all()
        vectors = (np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(len(rows), -1)
                   if rows else np.zeros((0, 384), dtype=np.float32))
        m = _Matrix(version, [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
                    [r[3] for r in rows], vectors)
        with self._lock:
            self._by_tenant[scope.tenant_id] = m
        return m


_cache = _VectorCache()


# --- full text ---------------------------------------------------------------------------

def _terms(query: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(query)][:32]


async def _fulltext(scope: Scope, terms: list[str]) -> dict[tuple[str, str], float]:
    if not terms:
        return {}
    dialect = scope.session.get_bind().dialect.name
    if dialect == "postgresql":
        tsq = " | ".join(f"{re.sub(r'[^0-9a-z_]', '', t)}:*" for t in terms if re.sub(r"[^0-9a-z_]", "", t))
        if not tsq:
            return {}
        sql = text("SELECT entity_type, entity_id, ts_rank_cd(tsv, q) AS r FROM search_docs, "
                   "to_tsquery('simple', :q) q WHERE tenant_id = :t AND tsv @@ q ORDER BY r DESC LIMIT :n")
        params: dict[str, Any] = {"q": tsq, "t": scope.tenant_id, "n": CANDIDATES}
    else:
        match = " OR ".join('"' + t.replace('"', "") + '"' + ("*" if len(t) <= 3 or t == terms[-1] else "")
                            for t in terms)
        sql = text("SELECT d.entity_type, d.entity_id, -bm25(search_fts) AS r FROM search_fts "
                   "JOIN search_docs d ON d.rowid = search_fts.rowid "
                   "WHERE search_fts MATCH :q AND d.tenant_id = :t ORDER BY bm25(search_fts) LIMIT :n")
        params = {"q": match, "t": scope.tenant_id, "n": CANDIDATES}
    rows = (await scope.session.execute(sql, params)).all()
    return {(r[0], r[1]): float(r[2]) for r in rows}


async def search(scope: Scope, query: str, limit: int = 20,
                 types: Sequence[str] | None = None) -> list[dict[str, Any]]:
    query = query.strip()
    terms = _terms(query)
    if not terms:
        return []
    text_hits = await _fulltext(scope, terms)
    matrix = await _cache.get(scope)
    vec_scores: dict[tuple[str, str], float] = {}
    index: dict[tuple[str, str], int] = {(t, i): n for n, (t, i) in enumerate(zip(matrix.types, matrix.ids,
                                                                                   strict=True))}
    semantic = len(query) >= 3  # one or two letters carry no meaning to embed
    if semantic and matrix.vectors.shape[0]:
        qv = get_embedder().embed([query[:1000]])[0]
        idx, scores = cosine_top(qv, matrix.vectors, CANDIDATES)
        vec_scores = {(matrix.types[i], matrix.ids[i]): float(s) for i, s in zip(idx, scores, strict=True)}
        for key in text_hits:  # text hits also get their cosine, for a fair fusion
            if key not in vec_scores and key in index:
                vec_scores[key] = float(matrix.vectors[index[key]] @ qv)
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
        n = index.get(key)
        if n is None:
            continue
        results.append({"type": key[0], "id": key[1], "title": matrix.titles[n],
                        "description": matrix.bodies[n][:300], "score": round(score, 4)})
    results.sort(key=lambda r: (-r["score"], r["title"]))
    return results[:limit]
