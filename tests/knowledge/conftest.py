"""Fixtures of the documentation tests: a documentation site on loopback, and an app allowed to
fetch from loopback (private targets are refused by default)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from pricewise.knowledge.ingest import ingest
from pricewise.knowledge.models import KnowledgeChunk
from tests.knowledge.docserver import DocServer


@pytest.fixture
def site() -> Iterator[DocServer]:
    server = DocServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def docs_client(make_client: Any) -> Any:
    return await make_client(auth_mode="local", fetch_allow_private=True)


class Kb:
    """The knowledge routes of one client, and the job body run in the test's loop."""

    def __init__(self, client: Any, headers: dict[str, str] | None = None, tenant_id: str | None = None) -> None:
        self.client = client
        self.ctx = client.app.state.ctx
        self.headers = headers or {}
        self.tenant_id = tenant_id or self.ctx.local_principal.tenant_id

    async def product(self, name: str = "Acme Analytics", **fields: Any) -> str:
        r = await self.client.post("/product/create", json={"name": name, **fields}, headers=self.headers)
        assert r.status_code == 200, r.text
        return str(r.json()["_id"])

    async def add(self, product_id: str, url: str, status: int = 201) -> dict[str, Any]:
        r = await self.client.post("/api/knowledge/documents", json={"product_id": product_id, "url": url},
                                   headers=self.headers)
        assert r.status_code == status, r.text
        out: dict[str, Any] = r.json()
        return out

    async def upload(self, product_id: str, name: str, data: bytes, content_type: str) -> Any:
        return await self.client.post("/api/knowledge/upload", data={"product_id": product_id},
                                      files={"file": (name, data, content_type)}, headers=self.headers)

    async def run(self, document_id: str) -> str:
        return await ingest(self.ctx, self.tenant_id, document_id)

    async def doc(self, document_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/api/knowledge/documents/{document_id}", headers=self.headers)
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    async def search(self, query: str, product_id: str | None = None, k: int = 5) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"query": query, "k": k}
        if product_id:
            body["product_id"] = product_id
        r = await self.client.post("/api/knowledge/search", json=body, headers=self.headers)
        assert r.status_code == 200, r.text
        results: list[dict[str, Any]] = r.json()["results"]
        return results

    async def chunks(self, document_id: str | None = None) -> list[tuple[int, str, int, str]]:
        """(id, document, ordinal, text) of the stored chunks, straight from the database."""
        stmt = select(KnowledgeChunk.id, KnowledgeChunk.document_id, KnowledgeChunk.ordinal, KnowledgeChunk.text)
        if document_id:
            stmt = stmt.where(KnowledgeChunk.document_id == document_id)
        async with self.ctx.db.session() as s:
            return [tuple(r) for r in (await s.execute(stmt.order_by(KnowledgeChunk.id))).all()]  # type: ignore[misc]


@pytest.fixture
async def kb(docs_client: Any) -> Kb:
    return Kb(docs_client)
