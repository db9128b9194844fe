"""Documentation knowledge routes: documents from URLs and uploads, and passage search."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.catalog.imports import TooLarge
from pricewise.catalog.models import Product
from pricewise.core.context import CtxDep
from pricewise.core.errors import ErrorResponse, invalid
from pricewise.core.fetch import MB
from pricewise.core.schemas import Limit, Offset, PathId
from pricewise.knowledge import remote
from pricewise.knowledge import service as svc
from pricewise.knowledge.schemas import DocumentIn, SearchIn

router = APIRouter(prefix="/api/knowledge", tags=["knowledge"])
Status = Literal["pending", "ingested", "failed"]


@router.post("/documents", dependencies=[Writer], status_code=201)
async def add_document(body: DocumentIn, scope: ScopeDep, ctx: CtxDep, response: Response) -> dict[str, Any]:
    """A documentation URL of a product, fetched and ingested in the background; the same URL
    again refreshes it (200)."""
    doc, created = await svc.add_url(scope, ctx.settings, body.product_id, body.url)
    if not created:
        response.status_code = 200
    return svc.doc_out(doc, await remote.remote_ids(scope))


@router.post("/upload", dependencies=[Writer], status_code=201, responses={
    507: {"model": ErrorResponse, "description": "The server's storage is full; nothing was kept"}})
async def upload_document(scope: ScopeDep, ctx: CtxDep, file: Annotated[UploadFile, File()],
                          product_id: Annotated[str, Form(pattern=r"^[0-9a-fA-F]{24}$")]) -> dict[str, Any]:
    """A PDF, HTML, Markdown or text file of a product, ingested in the background."""
    limit = ctx.settings.max_file_size_mb * MB
    data = await file.read(limit + 1)  # one byte over the limit is enough to refuse
    if len(data) > limit:
        raise TooLarge(f"file: larger than {ctx.settings.max_file_size_mb} MB (MAX_FILE_SIZE_MB)",
                       fields=[{"field": "file", "message": "too large"}])
    if not data:
        raise invalid("file", "the file is empty")
    doc = await svc.add_upload(scope, ctx.settings, product_id, file.filename, file.content_type, data)
    return svc.doc_out(doc)


@router.get("/documents")
async def list_documents(scope: ScopeDep, response: Response, product_id: str | None = None,
                         status: Annotated[Status | None, Query()] = None, limit: Limit = 100,
                         offset: Offset = 0) -> list[dict[str, Any]]:
    rows, total = await svc.list_documents(scope, product_id, status, limit, offset)
    response.headers["X-Total-Count"] = str(total)
    ids = await remote.remote_ids(scope)
    return [svc.doc_out(d, ids) for d in rows]


@router.get("/documents/{document_id}")
async def read_document(document_id: PathId, scope: ScopeDep) -> dict[str, Any]:
    doc = await svc.get_document(scope, document_id)
    return svc.doc_out(doc, await remote.remote_ids(scope))


@router.delete("/documents/{document_id}", dependencies=[Writer])
async def delete_document(document_id: PathId, scope: ScopeDep, ctx: CtxDep) -> dict[str, bool]:
    await svc.delete_document(scope, ctx.settings, document_id)
    return {"success": True}


@router.post("/documents/{document_id}/refresh", dependencies=[Writer], status_code=202)
async def refresh_document(document_id: PathId, scope: ScopeDep, ctx: CtxDep) -> dict[str, Any]:
    doc = await svc.refresh_document(scope, ctx.settings, document_id)
    return svc.doc_out(doc, await remote.remote_ids(scope))


@router.post("/search")
async def search(body: SearchIn, scope: ScopeDep) -> dict[str, Any]:
    """The passages of the documentation nearest in meaning to the query, best first."""
    if body.product_id is not None:
        await scope.get(Product, body.product_id, label="product")
    found = await svc.search_passages(scope, body.product_id, body.query, body.k)
    return {"results": [svc.passage_out(p) for p in found], "total_count": len(found), "query": body.query}
