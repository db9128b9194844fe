"""Reading a MongoDB export: one file per collection, JSON lines or a JSON array, extended JSON.

`mongoexport` writes one document per line (or, with --jsonArray, one array; with --pretty,
documents spread over several lines). Canonical and relaxed extended JSON are both read:
`{"$oid": ...}`, `{"$date": "<iso>"}`, `{"$date": {"$numberLong": "<ms>"}}`, `{"$date": <ms>}`,
`{"$numberInt"|"$numberLong"|"$numberDouble"|"$numberDecimal": "..."}` and DBRefs
(`{"$ref": ..., "$id": ...}`, read as the referenced id). Every document keeps the line it
starts on, so problems can be reported where the operator will look.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_WS = " \t\r\n"


class ExtJSONError(ValueError):
    pass


@dataclass
class RawDoc:
    """One document of a collection file, or the reason it could not be read."""

    line: int
    data: dict[str, Any] | None
    error: str | None = None


def _date(value: Any) -> datetime:
    if isinstance(value, dict) and set(value) == {"$numberLong"}:
        value = int(value["$numberLong"])
    if isinstance(value, int | float) and not isinstance(value, bool):
        return EPOCH + timedelta(milliseconds=value)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ExtJSONError(f"bad $date {value!r}") from exc
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    raise ExtJSONError(f"bad $date {value!r}")


def _number(key: str, raw: Any) -> int | float | Decimal:
    try:
        if key in ("$numberInt", "$numberLong"):
            return int(raw)
        if key == "$numberDouble":
            return float(raw)  # "NaN", "Infinity" and "-Infinity" included
        dec = Decimal(str(raw))
        if not dec.is_finite():
            raise ExtJSONError(f"bad {key} {raw!r}")
        return dec
    except (ValueError, InvalidOperation) as exc:
        raise ExtJSONError(f"bad {key} {raw!r}") from exc


def decode(value: Any) -> Any:
    """Plain Python values from extended JSON: ids as lowercase strings, dates as aware UTC."""
    if isinstance(value, list):
        return [decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        (key, raw), = value.items()
        if key == "$oid":
            return str(raw).lower()
        if key == "$date":
            return _date(raw)
        if key in ("$numberInt", "$numberLong", "$numberDouble", "$numberDecimal"):
            return _number(key, raw)
    if "$ref" in value and "$id" in value:
        return decode(value["$id"])
    return {k: decode(v) for k, v in value.items()}


def _line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def _skip(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WS:
        pos += 1
    return pos


def _as_doc(line: int, value: Any) -> RawDoc:
    if not isinstance(value, dict):
        return RawDoc(line, None, f"expected a document, got {type(value).__name__}")
    try:
        return RawDoc(line, decode(value))
    except ExtJSONError as exc:
        return RawDoc(line, None, str(exc))


def _parse_array(text: str, start: int) -> list[RawDoc]:
    dec = json.JSONDecoder()
    docs: list[RawDoc] = []
    pos = _skip(text, start + 1)
    while pos < len(text) and text[pos] != "]":
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            # An array cannot be resynchronised reliably: report where it broke and stop.
            docs.append(RawDoc(_line_of(text, exc.pos), None, f"invalid JSON: {exc.msg}"))
            return docs
        docs.append(_as_doc(_line_of(text, pos), value))
        pos = _skip(text, end)
        if pos < len(text) and text[pos] == ",":
            pos = _skip(text, pos + 1)
    return docs


def _parse_stream(text: str) -> list[RawDoc]:
    """Documents one after another (JSON lines, or --pretty output). A broken one is reported
    and reading goes on at the next line."""
    dec = json.JSONDecoder()
    docs: list[RawDoc] = []
    pos = _skip(text, 0)
    while pos < len(text):
        try:
            value, end = dec.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            docs.append(RawDoc(_line_of(text, pos), None, f"invalid JSON: {exc.msg}"))
            nl = text.find("\n", pos)
            if nl < 0:
                break
            pos = _skip(text, nl + 1)
            continue
        docs.append(_as_doc(_line_of(text, pos), value))
        pos = _skip(text, end)
    return docs


def parse(text: str) -> list[RawDoc]:
    text = text.lstrip("\ufeff")
    start = _skip(text, 0)
    if start < len(text) and text[start] == "[":
        return _parse_array(text, start)
    return _parse_stream(text)


def collection_file(folder: Path, name: str) -> Path | None:
    for suffix in (".jsonl", ".json"):
        path = folder / f"{name}{suffix}"
        if path.is_file():
            return path
    return None


def read_collection(path: Path) -> list[RawDoc]:
    return parse(path.read_text(encoding="utf-8"))


def finite(value: Any) -> float | None:
    """A JSON number as a finite float, else None (booleans are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    out = float(value)
    return out if math.isfinite(out) else None
