"""covering index of series points for monthly sums

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 17:10:00.000000

Revenue attribution sums each contribution's points per month. Through the unique index
(contribution_id, metric, date) every point still costs a visit to its table row for the value,
and when points arrive day by day across contributions (a daily sync) those rows are spread over
the whole table: at 1,000,000 points that made the monthly sums 3 to 5 times slower on
both databases than for rows written contribution by contribution (docs/benchmarks.md, "Revenue
attribution at scale"). With value and tenant_id in an index led by the same columns the sums
are read from the index alone (an index-only scan on PostgreSQL, a covering index on SQLite),
whatever the order the rows were written in. The same plain index on both databases, as the
model declares it.
"""
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

COLUMNS = ['contribution_id', 'metric', 'date', 'value', 'tenant_id']


def upgrade() -> None:
    op.create_index('ix_series_points_cover', 'series_points', COLUMNS, unique=False)


def downgrade() -> None:
    op.drop_index('ix_series_points_cover', table_name='series_points')
