"""CSV import routes: upload a file of one kind, list the imports, read one."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Response, UploadFile

from pricewise.accounts.deps import ScopeDep, Writer
from pricewise.catalog import imports
from pricewise.catalog.models import DataImport
from pricewise.catalog.sources import import_out
from pricewise.core.context import CtxDep
from pricewise.core.schemas import MAX_OFFSET

router = APIRouter(tags=["imports"])


@router.post("/imports/{kind}", dependencies=[Writer], status_code=201)
async def upload(kind: str, scope: ScopeDep, ctx: CtxDep, file: Annotated[UploadFile, File()],
                 mode: Annotated[str, Form()] = "all_or_nothing",
                 data_source_id: Annotated[str | None, Form()] = None) -> dict[str, Any]:
    """kind: revenue | subscriptions | customers | usage | feedback; mode: all_or_nothing | skip_bad_rows."""
    imports.check_kind(kind)
    imports.check_mode(mode)
    limit = imports.size_limit(ctx.settings.max_file_size_mb)
    data = await file.read(limit + 1)  # one byte over the limit is enough to refuse
    record = await imports.run_import(scope, kind=kind, data=data, filename=file.filename or "upload.csv",
                                      mode=mode, data_source_id=data_source_id or None, max_bytes=limit)
    return import_out(record)


@router.get("/imports")
async def list_imports(scope: ScopeDep, response: Response, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0) -> list[dict[str, Any]]:
    rows = await scope.list(DataImport, order_by=DataImport.created_at.desc(), limit=limit, offset=offset)
    response.headers["X-Total-Count"] = str(await scope.count(DataImport))
    return [import_out(r) for r in rows]


@router.get("/imports/{import_id}")
async def read_import(import_id: str, scope: ScopeDep) -> dict[str, Any]:
    return import_out(await scope.get(DataImport, import_id, label="import"))
