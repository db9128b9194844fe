"""The migrations and the models describe the same schema, on both databases."""

from __future__ import annotations

import asyncio

import pytest
from alembic import command

from pricewise.core.migrate import alembic_config, current


def test_models_match_migrations(db_url: str) -> None:
    cfg = alembic_config(db_url)
    command.check(cfg)  # raises when autogenerate would find a difference
    assert current(db_url) is not None


def test_downgrade_to_base_and_back(tmp_path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'roundtrip.db'}"
    cfg = alembic_config(url)
    command.upgrade(cfg, "head")
    head = current(url)
    command.downgrade(cfg, "base")
    assert current(url) is None
    command.upgrade(cfg, "head")
    assert current(url) == head


@pytest.fixture(autouse=True)
def _no_running_loop() -> None:
    # Alembic runs its own event loop; these tests are synchronous on purpose.
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()
