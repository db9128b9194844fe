"""CSV imports, parsed and validated: bytes in, typed rows and per-line errors out.

Pure: nothing here touches the web or the database. The caller hands over what the tenant has
(segments, plans, products) as plain data and writes the rows it gets back.

Format: a header row, UTF-8 (a BOM is allowed), comma separated, column names case-insensitive.
Line numbers count the header as line 1; a quoted cell spanning lines is reported at its row's
first line. Blank rows are skipped. Values are never negative (refunds are not imported as
negative revenue).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from pricewise.analytics.series import MAX_ABS_VALUE
from pricewise.catalog.csvcells import (
    MAX_CELL,
    Parser,
    Refs,
    choice,
    day,
    items,
    moment,
    number,
    ref,
    short,
    text,
)

KINDS = ("revenue", "subscriptions", "customers", "usage", "feedback")
MAX_ROWS = 200_000


class CsvFileError(ValueError):
    """The file as a whole cannot be read as CSV text."""


@dataclass(frozen=True)
class RowError:
    line: int  # 0: the file as a whole
    field: str
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


# --- kinds -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Col:
    name: str
    parse: Parser
    required: bool = False
    aliases: tuple[str, ...] = ()


class _Row:
    def __init__(self, line: int, values: dict[str, Any]) -> None:
        self.line = line
        self.values = values
        self.errors: list[RowError] = []

    def bad(self, field_: str, reason: str) -> None:
        self.errors.append(RowError(self.line, field_, reason))

    def product(self, refs: Refs) -> str | None:
        """product -> product_id (left out when the column is absent)."""
        if "product" not in self.values:
            return None
        pid: str | None = self.values.pop("product")
        if pid is not None and pid not in refs.products:
            self.bad("product", f"no product '{short(pid)}' in this workspace")
        self.values["product_id"] = pid
        return pid

    def resolve(self, refs: Refs, column: str, product: str | None) -> Any:
        """segment/plan -> segment_id/plan_id (None when the cell is empty or the column absent)."""
        if column not in self.values:
            return None
        key = self.values.pop(column)
        found = None
        if key is not None:
            try:
                found = refs.segment(key, product) if column == "segment" else refs.plan(key, product)
            except ValueError as exc:
                self.bad(column, str(exc))
        self.values[f"{column}_id"] = found.id if found else None
        return found


# Cross-field checks and references, run on every row (cells that failed are absent from
# values); the returned key finds duplicates and is only used when the row has no error.
Finish = Callable[[_Row, Refs], Hashable | None]


def _finish_series(row: _Row, refs: Refs) -> Hashable | None:
    product = row.product(refs)
    seg = row.resolve(refs, "segment", product)
    plan = row.resolve(refs, "plan", product)
    if seg is None or plan is None:
        return None
    # The pair's contribution: the row's product, else the segment's, else the plan's.
    row.values["product_id"] = product or seg.product_id or plan.product_id
    return (row.values["product_id"], seg.id, plan.id, row.values.get("date"))


def _finish_customer(row: _Row, refs: Refs) -> Hashable | None:
    product = row.product(refs)
    row.resolve(refs, "segment", product)
    row.resolve(refs, "plan", product)
    signup, churned = row.values.get("signup_date"), row.values.get("churned_at")
    if signup is not None and churned is not None and churned < signup:
        row.bad("churned_at", f"is before signup_date ({signup.isoformat()})")
    return row.values.get("customer_uid")


def _finish_usage(row: _Row, refs: Refs) -> Hashable | None:
    product = row.product(refs)
    v = row.values
    return (v.get("customer_uid"), product, v.get("date"), v.get("metric"))


def _finish_feedback(row: _Row, refs: Refs) -> Hashable | None:
    product = row.product(refs)
    row.resolve(refs, "segment", product)
    v = row.values
    if v.get("feedback_date") is None:
        return None  # undated feedback is always added
    return (v.get("customer_uid"), product, v["feedback_date"], v.get("feedback_source"))


@dataclass(frozen=True)
class Kind:
    columns: tuple[Col, ...]
    finish: Finish
    key_field: str  # where a duplicate is reported
    key_what: str

    def by_name(self) -> dict[str, Col]:
        out: dict[str, Col] = {}
        for c in self.columns:
            out[c.name] = c
            out.update({a: c for a in c.aliases})
        return out


SEGMENT = Col("segment", ref, aliases=("customer_segment", "customer_segment_uid", "segment_id"))
PLAN = Col("plan", ref, aliases=("pricing_plan", "plan_name", "plan_id"))
PRODUCT = Col("product", ref, aliases=("product_id",))
CUSTOMER = Col("customer_uid", text(200), required=True)


def _series(value: Parser) -> Kind:
    return Kind((Col("date", day, True), Col("value", value, True), Col("segment", ref, True, SEGMENT.aliases),
                 Col("plan", ref, True, PLAN.aliases), PRODUCT),
                _finish_series, "date", "the same product, segment, plan and date")


KIND_SPECS: dict[str, Kind] = {
    "revenue": _series(number(0, MAX_ABS_VALUE)),
    "subscriptions": _series(number(0, MAX_ABS_VALUE, integer=True)),
    "customers": Kind((CUSTOMER, Col("name", text(200)), SEGMENT, PLAN, PRODUCT,
                       Col("monthly_revenue", number(0)), Col("seats", number(1, 1_000_000_000, integer=True)),
                       Col("signup_date", day), Col("churned_at", day)),
                      _finish_customer, "customer_uid", "the same customer_uid"),
    "usage": Kind((CUSTOMER, Col("date", day, True), Col("metric", text(100), True),
                   Col("quantity", number(0), True), PRODUCT),
                  _finish_usage, "date", "the same customer, product, date and metric"),
    "feedback": Kind((CUSTOMER, Col("satisfaction_score", number(1, 10)),
                      Col("price_perception", choice("too_expensive", "fair", "cheap")),
                      Col("churn_risk", choice("low", "medium", "high")), Col("feature_requests", items),
                      Col("tags", items), Col("feedback_source", text(50)), Col("feedback_date", moment),
                      SEGMENT, PRODUCT, Col("comments", text(MAX_CELL, multiline=True))),
                     _finish_feedback, "feedback_date", "the same customer, product, date and source"),
}


# --- the file ----------------------------------------------------------------------------

def decode(data: bytes) -> str:
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise CsvFileError("the file is UTF-16 text; save it as CSV UTF-8")
    if b"\x00" in data:
        raise CsvFileError("the file is binary (it contains NUL bytes), not CSV text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CsvFileError(f"the file is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
                           "save it as CSV UTF-8") from None


@dataclass
class Parsed:
    kind: str
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # valid rows: (line, values)
    errors: list[RowError] = field(default_factory=list)  # per-row problems
    file_errors: list[RowError] = field(default_factory=list)  # nothing can be imported
    total: int = 0  # data rows seen
    failed: int = 0  # rows with at least one error

    @property
    def all_errors(self) -> list[RowError]:
        return self.file_errors + self.errors


def _header(spec: Kind, cells: list[str], out: Parsed) -> list[Col]:
    names = spec.by_name()
    expected = ", ".join(c.name for c in spec.columns)
    cols: list[Col] = []
    seen: set[str] = set()
    for i, raw in enumerate(cells, start=1):
        name = raw.strip().lower()
        col = names.get(name)
        if not name:
            out.file_errors.append(RowError(1, f"column {i}", "has no name"))
        elif col is None:
            hint = " (the file is not comma-separated)" if len(cells) == 1 and re.search(r"[;\t|]", name) else ""
            out.file_errors.append(RowError(1, short(raw.strip()), f"unknown column{hint}; expected {expected}"))
        elif col.name in seen:
            out.file_errors.append(RowError(1, raw.strip(), f"column {col.name} appears twice"))
        else:
            seen.add(col.name)
            cols.append(col)
    for c in spec.columns:
        if c.required and c.name not in seen:
            out.file_errors.append(RowError(1, c.name, "required column is missing"))
    out.columns = [c.name for c in cols]
    return cols


def _values(line: int, cols: list[Col], cells: list[str], today: date) -> _Row:
    row = _Row(line, {})
    if len(cells) != len(cols):
        row.bad("row", f"has {len(cells)} cells; the header has {len(cols)}")
        return row
    for col, raw in zip(cols, cells, strict=True):
        cell = raw.strip()
        if len(cell) > MAX_CELL:
            row.bad(col.name, f"longer than {MAX_CELL} characters")
        elif not cell:
            if col.required:
                row.bad(col.name, "is required")
            row.values[col.name] = None
        else:
            try:
                row.values[col.name] = col.parse(cell, today)
            except ValueError as exc:
                row.bad(col.name, str(exc))
    return row


def parse(kind: str, content: str, refs: Refs, today: date,
          on_row: Callable[[int], None] | None = None) -> Parsed:
    """Every row validated; `rows` holds the good ones, `errors` says what is wrong with the rest."""
    spec = KIND_SPECS[kind]
    out = Parsed(kind)
    reader = csv.reader(io.StringIO(content, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        out.file_errors.append(RowError(1, "file", f"malformed CSV header: {exc}"))
        return out
    if not header or not any(c.strip() for c in header):
        expected = ", ".join(c.name for c in spec.columns)
        out.file_errors.append(RowError(1, "file", f"no header row; the first line must name the columns: {expected}"))
        return out
    cols = _header(spec, header, out)
    if out.file_errors:
        return out
    seen: dict[Hashable, int] = {}
    prev = reader.line_num
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            out.file_errors.append(RowError(prev + 1, "file", f"malformed CSV: {exc}"))
            break
        line, prev = prev + 1, reader.line_num
        if not any(c.strip() for c in cells):
            continue
        out.total += 1
        if out.total > MAX_ROWS:
            out.total -= 1
            out.file_errors.append(RowError(line, "file", f"more than {MAX_ROWS} data rows; split the file"))
            break
        row = _values(line, cols, cells, today)
        key = spec.finish(row, refs)
        if key is not None and not row.errors:
            if key in seen:
                row.bad(spec.key_field, f"duplicate of line {seen[key]} ({spec.key_what})")
            else:
                seen[key] = line
        if row.errors:
            out.failed += 1
            out.errors.extend(row.errors)
        else:
            out.rows.append((line, row.values))
        if on_row is not None and out.total % 1000 == 0:
            on_row(out.total)
    if on_row is not None:
        on_row(out.total)
    return out
