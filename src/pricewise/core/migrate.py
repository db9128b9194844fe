"""Run Alembic from code (CLI and tests), and the row-level security helpers migrations use."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from pricewise.core.db import make_engine

ROOT = Path(__file__).resolve().parents[3]
APP_ROLE = "pricewise_app"


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    async def _cur() -> str | None:
        engine = make_engine(url)
        async with engine.connect() as conn:
            rev = await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        await engine.dispose()
        return rev

    return asyncio.run(_cur())


def enable_rls(table: str, column: str = "tenant_id") -> None:
    """PostgreSQL only: rows visible to the app role only when app.tenant_id matches."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY tenant_isolation ON {table} TO {APP_ROLE} "
        f"USING ({column} = current_setting('app.tenant_id', true)) "
        f"WITH CHECK ({column} = current_setting('app.tenant_id', true))"
    )


def ensure_app_role() -> None:
    """The restricted role request sessions switch to (SET LOCAL ROLE) on PostgreSQL."""
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"""
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
    CREATE ROLE {APP_ROLE} NOLOGIN;
  END IF;
  EXECUTE format('GRANT {APP_ROLE} TO %I', current_user);
EXCEPTION WHEN duplicate_object OR insufficient_privilege THEN NULL;
END $$""")
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public "
               f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}")
    # Bulk rows (series points, usage records) take their ids from sequences.
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}")
