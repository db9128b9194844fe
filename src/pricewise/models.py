"""Every feature's tables, imported so that Base.metadata knows them all (Alembic, export)."""

from pricewise.accounts import models as accounts_models
from pricewise.alerts import models as alerts_models
from pricewise.analytics import models as analytics_models
from pricewise.catalog import models as catalog_models
from pricewise.core.base import Base
from pricewise.estimation import models as estimation_models
from pricewise.knowledge import models as knowledge_models
from pricewise.orchestration import models as orchestration_models
from pricewise.reports import models as reports_models
from pricewise.widget import models as widget_models

__all__ = ["Base", "accounts_models", "alerts_models", "analytics_models", "catalog_models", "estimation_models",
           "knowledge_models",
           "load_tasks", "orchestration_models", "reports_models", "widget_models"]


def load_tasks() -> None:
    """Import every feature's tasks module so huey's registry knows all jobs."""
    from pricewise.accounts import tasks as accounts_tasks  # noqa: F401
    from pricewise.alerts import tasks as alerts_tasks  # noqa: F401
    from pricewise.analytics import tasks as analytics_tasks  # noqa: F401
    from pricewise.estimation import tasks as estimation_tasks  # noqa: F401
    from pricewise.knowledge import tasks as knowledge_tasks  # noqa: F401
    from pricewise.orchestration import tasks as orchestration_tasks  # noqa: F401
    from pricewise.reports import tasks as reports_tasks  # noqa: F401
    from pricewise.widget import tasks as widget_tasks  # noqa: F401
