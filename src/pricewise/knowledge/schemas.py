"""Request bodies of the documentation knowledge routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from pricewise.core.schemas import In

Id = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^[0-9a-fA-F]{24}$")]


class DocumentIn(In):
    product_id: Id
    # Any scheme is accepted here so that core/fetch.py gives the one reason for a refusal.
    url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]


class SearchIn(In):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    product_id: Id | None = None
    k: Annotated[int, Field(ge=1, le=50)] = 5
