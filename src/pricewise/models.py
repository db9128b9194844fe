"""Every feature's tables, imported so that Base.metadata knows them all (Alembic, export)."""

from pricewise.accounts import models as accounts_models
from pricewise.core.base import Base

__all__ = ["Base", "accounts_models", "load_tasks"]


def load_tasks() -> None:
    """Import every feature's tasks module so huey's registry knows all jobs."""
    from pricewise.accounts import tasks as accounts_tasks  # noqa: F401
