"""search and list performance indexes; sequence grants for the app role

Pages of the catalog lists are read in (tenant_id, created_at, id) order, which these indexes
serve without sorting the tenant's rows. The app role also gets USAGE on sequences (the integer
keys of series_points and usage_records) on databases migrated before that grant existed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 15:00:00.000000

Each /search reads the tenant's row count and latest update of search_docs to know whether its
cached vector matrix is current; with this index both are answered from the index (max() is one
seek) instead of from the rows and their embeddings.
"""
from alembic import op

from pricewise.core.migrate import ensure_app_role

PAGES = {"customer_segments": "ix_segments_page", "pricing_plans": "ix_plans_page",
         "segment_plan_links": "ix_links_page", "products": "ix_products_page"}

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain CREATE INDEX on both databases: search_docs must never be rebuilt on SQLite, the FTS5
    # index refers to its rowids.
    op.create_index('ix_search_docs_tenant_updated', 'search_docs', ['tenant_id', 'updated_at'], unique=False)
    for table, name in PAGES.items():
        op.create_index(name, table, ['tenant_id', 'created_at', 'id'], unique=False)
    ensure_app_role()


def downgrade() -> None:
    for table, name in PAGES.items():
        op.drop_index(name, table_name=table)
    op.drop_index('ix_search_docs_tenant_updated', table_name='search_docs')
