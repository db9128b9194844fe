"""Request bodies of the orchestration routes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import StringConstraints

from pricewise.core.schemas import In

WorkflowName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]


class StartIn(In):
    workflow_type: WorkflowName
    product_id: str | None = None
    parameters: dict[str, Any] | None = None
