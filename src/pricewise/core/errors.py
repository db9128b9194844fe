"""One error shape for every failure: {"error": {"code", "message", "fields"}, "request_id"}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, PendingRollbackError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("pricewise.errors")


class AppError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        *,
        fields: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or []
        self.headers = headers
        if code:
            self.code = code


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class Invalid(AppError):
    status = 422
    code = "validation_error"


class TooMany(AppError):
    status = 429
    code = "rate_limited"


class Unavailable(AppError):
    status = 503
    code = "unavailable"


class StorageFull(AppError):
    """The server's disk is full (ENOSPC): nothing was kept; retrying helps once space is freed."""

    status = 507
    code = "storage_full"


class FieldError(BaseModel):
    field: str
    message: str


class ErrorDetail(BaseModel):
    code: str
    message: str
    fields: list[FieldError]


class ErrorResponse(BaseModel):
    error: ErrorDetail
    request_id: str | None


# The failures any route may answer with, in the one error shape (installed app-wide in create_app).
# 422 replaces FastAPI's default HTTPValidationError, which this app never sends.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description} for status, description in (
        (400, "Malformed request (e.g. body not valid JSON)"),
        (401, "Missing or invalid credentials"),
        (403, "Authenticated but not allowed (role, unverified e-mail, inactive tenant)"),
        (404, "Not found (another tenant's row is not found too)"),
        (409, "Conflicts with existing data or the resource's state"),
        (413, "Body too large"),
        (422, "Invalid input; `fields` names each wrong field"),
        (429, "Rate limited; see Retry-After"),
    )
}


def invalid(field: str, message: str) -> Invalid:
    return Invalid(f"{field}: {message}", fields=[{"field": field, "message": message}])


def error_body(status_code: int, code: str, message: str, request: Request,
               fields: list[dict[str, str]] | None = None) -> dict[str, Any]:
    return {
        "error": {"code": code, "message": message, "fields": fields or []},
        "request_id": getattr(request.state, "request_id", None),
    }


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _validation_fields(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    fields: list[dict[str, str]] = []
    code = "validation_error"
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            code = "malformed_json"
            ctx = err.get("ctx") or {}
            fields.append({"field": "body", "message": f"malformed JSON: {ctx.get('error', 'invalid')}"})
            continue
        msg = str(err.get("msg", "invalid"))
        fields.append({"field": _field_name(tuple(err.get("loc", ()))), "message": msg})
    return code, fields


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message, request, exc.fields),
                            status_code=exc.status, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        code, fields = _validation_fields(exc)
        status = 400 if code == "malformed_json" else 422
        message = "; ".join(f"{f['field']}: {f['message']}" for f in fields)
        return JSONResponse(error_body(status, code, message, request, fields), status_code=status)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed",
                413: "payload_too_large"}.get(exc.status_code, "http_error")
        message, fields = str(exc.detail), None
        if exc.status_code == 400 and isinstance(exc.__cause__, UnicodeDecodeError):
            # FastAPI could not decode the JSON body at all: the same answer as any bad JSON
            fields = [{"field": "body", "message": "malformed JSON: not valid UTF-8 text"}]
            code, message = "malformed_json", "body: malformed JSON: not valid UTF-8 text"
        return JSONResponse(error_body(exc.status_code, code, message, request, fields),
                            status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity(request: Request, exc: IntegrityError) -> JSONResponse:
        # A unique or foreign-key rule the service did not pre-check: the transaction rolled back.
        log.info("integrity error: %s", type(exc.orig).__name__)
        return JSONResponse(error_body(409, "conflict", "conflicts with existing data", request),
                            status_code=409)

    @app.exception_handler(DataError)
    async def _data(request: Request, exc: DataError) -> JSONResponse:
        # A value the database refused (too long, out of range, NUL): the request's fault, not an outage.
        log.info("data error: %s", type(exc.orig).__name__)
        message = "a value cannot be stored: too long or out of range for its field, or a NUL character"
        return JSONResponse(error_body(422, "invalid_value", message, request), status_code=422)

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def _db_down(request: Request, exc: Exception) -> JSONResponse:
        if str(getattr(getattr(exc, "orig", None), "sqlstate", "") or "").startswith("22"):
            # PostgreSQL's data exceptions (a NUL character in text or JSON, a value out of range):
            # asyncpg's are not translated to DataError, but they are the request's fault all the same.
            return await _data(request, exc)  # type: ignore[arg-type]
        # Connection loss and lock time-outs: the client may retry; nothing was committed.
        log.warning("database error: %s", type(exc).__name__)
        return JSONResponse(error_body(503, "database_unavailable", "database unavailable, retry",
                                       request), status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return JSONResponse(error_body(500, "internal_error", "internal error", request), status_code=500)

    @app.exception_handler(PendingRollbackError)
    async def _lost_mid_transaction(request: Request, exc: PendingRollbackError) -> JSONResponse:
        if exc.code == "8s2b":
            # The connection was lost earlier in this transaction and a step that tolerates its own
            # failures (e.g. an alert check) carried on; the server rolled it all back: an outage.
            return await _db_down(request, exc)
        return await _unexpected(request, exc)
