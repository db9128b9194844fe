"""Cells and references of CSV imports: one cell in, a typed value out, or the reason it is wrong.

Pure: nothing here touches the web or the database. A parser gets a stripped, non-empty cell and
today's date (UTC); it raises ValueError with a short reason that names the offending value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, NoReturn, TypeVar

MAX_CELL = 10_000
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class SegmentRef:
    id: str
    uid: str
    product_id: str | None


@dataclass(frozen=True)
class PlanRef:
    id: str
    name: str
    product_id: str | None


class Refs:
    """What rows may point at: segments by _id or uid, plans by _id or exact name, product ids."""

    def __init__(self, segments: Iterable[SegmentRef] = (), plans: Iterable[PlanRef] = (),
                 products: Iterable[str] = ()) -> None:
        self.segments = {s.id: s for s in segments}
        self.plans = {p.id: p for p in plans}
        self.products = set(products)
        self.segments_by_uid: dict[str, list[SegmentRef]] = {}
        for s in self.segments.values():
            self.segments_by_uid.setdefault(s.uid, []).append(s)
        self.plans_by_name: dict[str, list[PlanRef]] = {}
        for p in self.plans.values():
            self.plans_by_name.setdefault(p.name, []).append(p)

    def segment(self, ref: str, product: str | None) -> SegmentRef:
        return _pick("segment", ref, self.segments, self.segments_by_uid, product)

    def plan(self, ref: str, product: str | None) -> PlanRef:
        return _pick("plan", ref, self.plans, self.plans_by_name, product)


R = TypeVar("R", SegmentRef, PlanRef)


def _pick(label: str, ref: str, by_id: dict[str, R], by_key: dict[str, list[R]], product: str | None) -> R:
    if ref in by_id:
        return by_id[ref]
    found = by_key.get(ref, [])
    if product is not None and len(found) > 1:
        found = [c for c in found if c.product_id in (product, None)] or found
    if len(found) == 1:
        return found[0]
    if not found:
        _bad(f"no {label} '{short(ref)}' in this workspace")
    _bad(f"'{short(ref)}' matches {len(found)} {label}s; use the {label} _id or add a product column")


def _bad(reason: str) -> NoReturn:
    raise ValueError(reason)


def short(value: str, n: int = 40) -> str:
    return value if len(value) <= n else value[:n] + "..."


# --- cell parsers: a stripped, non-empty cell in, a value out (ValueError: the reason) -----

Parser = Callable[[str, date], Any]


def text(max_len: int, multiline: bool = False) -> Parser:
    def parse(cell: str, _today: date) -> str:
        if len(cell) > max_len:
            raise ValueError(f"longer than {max_len} characters")
        if _CONTROL.search(cell) or (not multiline and ("\n" in cell or "\r" in cell)):
            raise ValueError("contains control characters or line breaks")
        return cell
    return parse


def number(minimum: float, maximum: float | None = None, integer: bool = False) -> Parser:
    def parse(cell: str, _today: date) -> float | int:
        if not _NUMBER.match(cell):
            raise ValueError(f"not a finite number: '{short(cell)}'")
        value = float(cell)
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: '{short(cell)}'")
        if integer and value != int(value):
            raise ValueError(f"must be a whole number, got {cell}")
        if value < minimum:
            raise ValueError(f"must be >= {minimum:g}, got {cell}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum:g}, got {cell}")
        return int(value) if integer else value
    return parse


def _moment(cell: str) -> datetime:
    try:
        if len(cell) == 10:
            d = date.fromisoformat(cell)
            return datetime(d.year, d.month, d.day, tzinfo=UTC)
        value = datetime.fromisoformat(cell)
    except ValueError:
        raise ValueError(f"not an ISO date (YYYY-MM-DD) or date-time: '{short(cell)}'") from None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date out of range: '{short(cell)}'") from None


def _not_future(value: datetime, today: date) -> None:
    latest = today + timedelta(days=1)
    if value.date() > latest:
        raise ValueError(f"is in the future (after {latest.isoformat()})")


def day(cell: str, today: date) -> date:
    value = _moment(cell)
    _not_future(value, today)
    return value.date()


def moment(cell: str, today: date) -> datetime:
    value = _moment(cell)
    _not_future(value, today)
    return value


def choice(*options: str) -> Parser:
    def parse(cell: str, _today: date) -> str:
        value = cell.lower()
        if value not in options:
            raise ValueError(f"must be one of {', '.join(options)}, got '{short(cell)}'")
        return value
    return parse


def items(cell: str, _today: date) -> list[str]:
    values = [v.strip() for v in cell.split(";") if v.strip()]
    if len(values) > 100:
        raise ValueError("more than 100 items")
    if any(len(v) > 200 or _CONTROL.search(v) for v in values):
        raise ValueError("an item is longer than 200 characters or contains control characters")
    return values


ref = text(200)
