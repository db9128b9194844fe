"""Shared request/response schema bases and field types."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, PlainSerializer, StringConstraints


def _no_controls(v: str) -> str:
    if re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]", v):
        raise ValueError("contains control characters")
    return v


def _iso_z(dt: datetime | None) -> str | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def iso_day(d: date | None) -> str | None:
    """A calendar date on the wire, as the client's TimeseriesData expects: midnight UTC with Z."""
    return None if d is None else f"{d.isoformat()}T00:00:00Z"


def as_day(v: date | datetime) -> date:
    """The UTC calendar day of a date or datetime; out-of-range offsets land on date.min/max."""
    if isinstance(v, datetime):
        try:
            return v.astimezone(UTC).date() if v.tzinfo else v.date()
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 or 9999-12-31T23:59:59-01:00
            return date.min if v.year == 1 else date.max
    return v


# Route parameters shared by the list and detail routes.
# Offsets and sequence cursors past any table's size are refused with a 422: the databases'
# integer columns end at 2**63 - 1 (SQLite raises OverflowError before the query even runs).
MAX_OFFSET = 2**31 - 1
Limit = Annotated[int, Query(ge=1, le=1000)]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]
PathId = Annotated[str, Path(pattern=r"^[0-9a-fA-F]{24}$")]


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
                 AfterValidator(_no_controls)]
Text = Annotated[str, StringConstraints(max_length=20_000), AfterValidator(_no_controls)]
Timestamp = Annotated[datetime, PlainSerializer(_iso_z, return_type=str)]


def _http_url(v: str) -> str:
    v = v.strip()
    if not re.match(r"^https?://[^\s/$.?#][^\s]*$", v, re.IGNORECASE) or len(v) > 2048:
        raise ValueError("must be an http:// or https:// URL")
    return v


HttpUrlStr = Annotated[str, AfterValidator(_http_url)]


class In(BaseModel):
    """Request bodies: strict types (no "5" for 5), unknown fields refused."""

    model_config = ConfigDict(strict=True, extra="forbid", str_max_length=100_000)


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True, populate_by_name=True)


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", by_alias=True)
