"""CSV imports of revenue, subscriptions, customers, usage and feedback: the service behind
POST /imports/{kind} and `pricewise import csv`.

Every row is validated before any data row is added. all_or_nothing (the default) writes no
data when a row is bad; skip_bad_rows writes the good rows. Either way a DataImport record says
what happened, line by line, and the "CSV upload" data source of the category shows the last
sync. Header, encoding and size problems fail the whole file in both modes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from sqlalchemy import select

from pricewise.alerts.service import schedule_churn
from pricewise.analytics import forecast_service
from pricewise.catalog import csvcells, csvrows
from pricewise.catalog import import_writers as writers
from pricewise.catalog.csvrows import RowError
from pricewise.catalog.models import CustomerSegment, DataImport, DataSource, PricingPlan, Product
from pricewise.core.base import utcnow
from pricewise.core.errors import AppError, Invalid, invalid
from pricewise.core.events import emit
from pricewise.core.tenancy import Scope

if TYPE_CHECKING:
    from rich.progress import Progress

    from pricewise.core.context import AppContext

MODES = ("all_or_nothing", "skip_bad_rows")
CATEGORY = {"revenue": "revenue", "subscriptions": "revenue", "customers": "customer_segment",
            "usage": "customer_segment", "feedback": "customer_segment"}
SOURCE_NAME = "CSV upload"
SHOWN_ERRORS = 50  # in a refusal's `fields`
LOGGED_ERRORS = 1000  # kept in the record's error_logs (records_failed counts them all)
MB = 1024 * 1024
OnProgress = Callable[[str, int, int | None], None]  # (what, done, total)


class TooLarge(AppError):
    status = 413
    code = "payload_too_large"


def check_kind(kind: str) -> None:
    if kind not in csvrows.KINDS:
        raise invalid("kind", f"unknown import kind '{kind[:40]}'; use one of {', '.join(csvrows.KINDS)}")


def check_mode(mode: str) -> None:
    if mode not in MODES:
        raise invalid("mode", f"must be one of {', '.join(MODES)}")


def size_limit(max_file_size_mb: int) -> int:
    return max_file_size_mb * MB


def _where(e: RowError) -> str:
    return f"line {e.line}: {e.field}" if e.line else e.field


def _fields(errors: list[RowError]) -> list[dict[str, str]]:
    return [{"field": _where(e), "message": e.reason} for e in errors[:SHOWN_ERRORS]]


def first_errors(errors: list[RowError], n: int = 5) -> str:
    more = f"; and {len(errors) - n} more" if len(errors) > n else ""
    return "; ".join(f"{_where(e)}: {e.reason}" for e in errors[:n]) + more


async def _source(scope: Scope, kind: str, data_source_id: str | None) -> DataSource:
    category = CATEGORY[kind]
    if data_source_id:
        source = await scope.get(DataSource, data_source_id, label="data source")
        if source.category != category:
            raise invalid("data_source_id", f"is a {source.category} source; {kind} imports need a {category} source")
        return source
    found = await scope.list(DataSource, DataSource.category == category, DataSource.source_type == "csv_upload",
                             DataSource.name == SOURCE_NAME, limit=1)
    if found:
        return found[0]
    source = scope.add(DataSource(name=SOURCE_NAME, category=category, source_type="csv_upload",
                                  config_public={}, is_active=True))
    await scope.session.flush()
    return source


async def load_refs(scope: Scope, kind: str) -> csvcells.Refs:
    session = scope.session
    products = (await session.execute(scope.where(
        select(Product.id).where(Product.deleted_at.is_(None)), Product))).scalars().all()
    if kind == "usage":
        return csvcells.Refs(products=products)
    segments = (await session.execute(scope.where(
        select(CustomerSegment.id, CustomerSegment.customer_segment_uid, CustomerSegment.product_id)
        .where(CustomerSegment.deleted_at.is_(None)), CustomerSegment))).all()
    plans = (await session.execute(scope.where(
        select(PricingPlan.id, PricingPlan.plan_name, PricingPlan.product_id)
        .where(PricingPlan.deleted_at.is_(None)), PricingPlan))).all()
    return csvcells.Refs(segments=[csvcells.SegmentRef(*s) for s in segments],
                        plans=[csvcells.PlanRef(*p) for p in plans], products=products)


def _finish(record: DataImport, source: DataSource, status: str, errors: list[RowError]) -> None:
    now = utcnow()
    record.status = status
    record.error_logs = [e.as_dict() for e in errors[:LOGGED_ERRORS]]
    record.completed_at = now
    source.last_sync = now
    source.sync_status = {"completed": "success"}.get(status, status)
    source.error_message = first_errors(errors, 3) if errors else None
    source.updated_at = now


async def _refuse(scope: Scope, record: DataImport, source: DataSource, errors: list[RowError],
                  exc: AppError) -> NoReturn:
    """Record the failure, keep that record (and only it) when the unit of work ends, refuse."""
    _finish(record, source, "failed", errors)
    record.records_success = 0
    await scope.session.flush()
    scope.session.info["commit_even_on_error"] = True
    raise exc


async def run_import(scope: Scope, *, kind: str, data: bytes, filename: str, mode: str = "all_or_nothing",
                     data_source_id: str | None = None, max_bytes: int = 50 * MB,
                     progress: OnProgress | None = None) -> DataImport:
    """Validate the whole file, then write (the caller commits). Refusals raise after recording."""
    check_kind(kind)
    check_mode(mode)
    tell: OnProgress = progress or (lambda _what, _done, _total: None)
    source = await _source(scope, kind, data_source_id)
    record = scope.add(DataImport(data_source_id=source.id, kind=kind, mode=mode, import_type="full",
                                  filename=(filename or "upload.csv")[:300], status="processing",
                                  started_at=utcnow(), error_logs=[]))
    await scope.session.flush()
    if len(data) > max_bytes:
        reason = f"the file is larger than the {max_bytes // MB} MB limit (MAX_FILE_SIZE_MB)"
        await _refuse(scope, record, source, [RowError(0, "file", reason)],
                      TooLarge(f"import {record.id} refused: {reason}", fields=[{"field": "file", "message": reason}]))
    try:
        content = csvrows.decode(data)
    except csvrows.CsvFileError as exc:
        await _refuse(scope, record, source, [RowError(0, "file", str(exc))],
                      Invalid(f"import {record.id} refused: {exc}", fields=[{"field": "file", "message": str(exc)}]))
    refs = await load_refs(scope, kind)
    parsed = csvrows.parse(kind, content, refs, utcnow().date(), lambda n: tell("validating", n, None))
    record.records_processed = parsed.total
    record.records_failed = parsed.failed
    errors = parsed.all_errors
    if not parsed.file_errors and parsed.total == 0:
        parsed.file_errors.append(RowError(0, "file", "the file has a header but no data rows"))
        errors = parsed.all_errors
    if parsed.file_errors or (parsed.errors and (mode == "all_or_nothing" or not parsed.rows)):
        if parsed.file_errors:
            what = "the file cannot be imported"
        else:
            what = f"{parsed.failed} of {parsed.total} row(s) are invalid, nothing was imported"
        await _refuse(scope, record, source, errors,
                      Invalid(f"import {record.id} failed: {what}: {first_errors(errors)}", fields=_fields(errors)))
    total = len(parsed.rows)
    tell("writing", 0, total)

    def tick(n: int) -> None:
        tell("writing", n, total)

    if kind in ("revenue", "subscriptions"):
        ids = await writers.write_series(scope, kind, parsed.rows, tick)
        emit(scope.session, scope.tenant_id, "revenue_data_updated",
             {"import_id": record.id, "metric": kind, "points": total, "contribution_ids": ids[:100]})
        forecast_service.schedule(scope.session, scope.tenant_id, ids)
    elif kind == "customers":
        await writers.write_customers(scope, parsed.rows, tick)
        schedule_churn(scope.session, scope.tenant_id)
    elif kind == "usage":
        await writers.write_usage(scope, parsed.rows, tick)
    else:
        await writers.write_feedback(scope, parsed.rows, tick)
    record.records_success = total
    _finish(record, source, "partial" if parsed.errors else "completed", errors)
    await scope.session.flush()
    return record


def summary(record: DataImport) -> str:
    line = (f"imported {record.records_success} of {record.records_processed} row(s) ({record.kind}) "
            f"into tenant {record.tenant_id}: {record.status}")
    if record.error_logs:
        errors = [RowError(e["line"], e["field"], e["reason"]) for e in record.error_logs]
        line += f"; skipped {record.records_failed} row(s): {first_errors(errors)}"
    return line


def _read_head(path: Path, limit: int) -> bytes:
    with path.open("rb") as fh:
        return fh.read(limit)


async def import_csv_cli(ctx: AppContext, path: Path, kind: str, tenant_ref: str | None, skip_bad_rows: bool,
                         progress: Callable[[], Progress]) -> str:
    """`pricewise import csv FILE --kind K`: the same service, with a progress bar; one line back."""
    from pricewise.accounts.lifecycle import operator_scope
    from pricewise.core.db import commit

    check_kind(kind)
    limit = size_limit(ctx.settings.max_file_size_mb)
    data = await asyncio.to_thread(_read_head, path, limit + 1)
    async with ctx.db.session() as session:
        session.info["actor"] = "cli:import"
        scope = await operator_scope(session, tenant_ref)
        with progress() as bar:
            task = bar.add_task(f"{kind}: validating", total=None)

            def show(what: str, done: int, total: int | None) -> None:
                bar.update(task, description=f"{kind}: {what}", completed=done, total=total)

            try:
                record = await run_import(scope, kind=kind, data=data, filename=path.name,
                                          mode="skip_bad_rows" if skip_bad_rows else "all_or_nothing",
                                          max_bytes=limit, progress=show)
            except AppError:
                if session.info.pop("commit_even_on_error", False):
                    await commit(session)  # the failed import's record, no data
                else:
                    await session.rollback()
                raise
        await commit(session)
        await ctx.events.publish_all(session.info.pop("events", []))
    return summary(record)
