"""workspace

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 14:34:29.284794
"""
from alembic import op

from pricewise.core.migrate import enable_rls, ensure_app_role
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


TENANT_TABLES = (
    "products", "customer_segments", "pricing_plans", "plan_price_history", "segment_plan_links",
    "canvas_positions", "search_docs", "data_sources", "data_imports", "product_integrations",
    "prompt_configs", "automation_configs", "scheduled_reports", "contributions", "series_points",
    "customers", "usage_records", "customer_feedback",
)


def upgrade() -> None:
    op.create_table('automation_configs',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('automation_type', sa.String(length=50), nullable=False),
    sa.Column('trigger_config', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('action_config', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_run', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_run', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_automation_configs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_automation_configs'))
    )
    with op.batch_alter_table('automation_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_automation_configs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('canvas_positions',
    sa.Column('node_id', sa.String(length=40), nullable=False),
    sa.Column('x', sa.Double(), nullable=False),
    sa.Column('y', sa.Double(), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_canvas_positions_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_canvas_positions')),
    sa.UniqueConstraint('tenant_id', 'node_id', name='uq_canvas_node')
    )
    with op.batch_alter_table('canvas_positions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_canvas_positions_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('data_sources',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('category', sa.String(length=30), nullable=False),
    sa.Column('source_type', sa.String(length=30), nullable=False),
    sa.Column('config_public', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('config_secret', sa.Text(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_sync', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sync_status', sa.String(length=20), nullable=True),
    sa.Column('error_message', sa.Text(), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_data_sources_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_sources'))
    )
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_sources_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('products',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('icp_description', sa.Text(), nullable=True),
    sa.Column('unit_level_cogs', sa.Text(), nullable=True),
    sa.Column('features_description_summary', sa.Text(), nullable=True),
    sa.Column('competitors', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('product_documentations', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('vector_store_id', sa.String(length=64), nullable=True),
    sa.Column('category', sa.String(length=100), nullable=True),
    sa.Column('pricing_objective', sa.String(length=100), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_products_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products'))
    )
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_products_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('prompt_configs',
    sa.Column('system_prompts', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('analysis_templates', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('response_formats', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_prompt_configs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_prompt_configs')),
    sa.UniqueConstraint('tenant_id', name='uq_prompt_config_tenant')
    )
    with op.batch_alter_table('prompt_configs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_prompt_configs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('scheduled_reports',
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('schedule_type', sa.String(length=20), nullable=False),
    sa.Column('schedule_config', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('cron', sa.String(length=100), nullable=False),
    sa.Column('report_sections', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('recipients', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('next_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_run_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_delivery_status', sa.String(length=200), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_scheduled_reports_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_scheduled_reports'))
    )
    with op.batch_alter_table('scheduled_reports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_scheduled_reports_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('search_docs',
    sa.Column('entity_type', sa.String(length=30), nullable=False),
    sa.Column('entity_id', sa.String(length=24), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('embedding', sa.LargeBinary(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_search_docs_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_search_docs')),
    sa.UniqueConstraint('tenant_id', 'entity_type', 'entity_id', name='uq_search_entity')
    )
    with op.batch_alter_table('search_docs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_search_docs_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customer_segments',
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('customer_segment_uid', sa.String(length=200), nullable=False),
    sa.Column('customer_segment_name', sa.String(length=200), nullable=False),
    sa.Column('customer_segment_description', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_customer_segments_product_id_products')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_segments_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_segments'))
    )
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_segments_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_customer_segments_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('data_imports',
    sa.Column('data_source_id', sa.String(length=24), nullable=True),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('import_type', sa.String(length=20), nullable=False),
    sa.Column('mode', sa.String(length=20), nullable=False),
    sa.Column('filename', sa.String(length=300), nullable=False),
    sa.Column('records_processed', sa.Integer(), nullable=False),
    sa.Column('records_success', sa.Integer(), nullable=False),
    sa.Column('records_failed', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('error_logs', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['data_source_id'], ['data_sources.id'], name=op.f('fk_data_imports_data_source_id_data_sources')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_data_imports_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_data_imports'))
    )
    with op.batch_alter_table('data_imports', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_data_imports_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('pricing_plans',
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('plan_name', sa.String(length=200), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('min_unit_count', sa.Integer(), nullable=False),
    sa.Column('unit_calculation_logic', sa.Text(), nullable=False),
    sa.Column('min_unit_utilization_period', sa.String(length=100), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('cogs_per_unit', sa.Numeric(precision=14, scale=4), nullable=True),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_pricing_plans_product_id_products')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_pricing_plans_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pricing_plans'))
    )
    with op.batch_alter_table('pricing_plans', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pricing_plans_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pricing_plans_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('product_integrations',
    sa.Column('product_id', sa.String(length=24), nullable=False),
    sa.Column('integration_type', sa.String(length=50), nullable=False),
    sa.Column('config_public', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('config_secret', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_product_integrations_product_id_products')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_product_integrations_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_product_integrations'))
    )
    with op.batch_alter_table('product_integrations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_product_integrations_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('usage_records',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('customer_uid', sa.String(length=200), nullable=False),
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('metric', sa.String(length=100), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_usage_records_product_id_products')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_usage_records_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_usage_records'))
    )
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.create_index('ix_usage_customer_date', ['tenant_id', 'customer_uid', 'date'], unique=False)
        batch_op.create_index(batch_op.f('ix_usage_records_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('contributions',
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('segment_id', sa.String(length=24), nullable=False),
    sa.Column('plan_id', sa.String(length=24), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['pricing_plans.id'], name=op.f('fk_contributions_plan_id_pricing_plans')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_contributions_product_id_products')),
    sa.ForeignKeyConstraint(['segment_id'], ['customer_segments.id'], name=op.f('fk_contributions_segment_id_customer_segments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_contributions_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_contributions'))
    )
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.create_index('ix_contrib_pair', ['tenant_id', 'segment_id', 'plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_contributions_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customer_feedback',
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('segment_id', sa.String(length=24), nullable=True),
    sa.Column('customer_uid', sa.String(length=200), nullable=False),
    sa.Column('satisfaction_score', sa.Float(), nullable=True),
    sa.Column('price_perception', sa.String(length=20), nullable=True),
    sa.Column('feature_requests', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('churn_risk', sa.String(length=10), nullable=True),
    sa.Column('feedback_source', sa.String(length=50), nullable=True),
    sa.Column('feedback_date', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tags', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('comments', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_customer_feedback_product_id_products')),
    sa.ForeignKeyConstraint(['segment_id'], ['customer_segments.id'], name=op.f('fk_customer_feedback_segment_id_customer_segments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customer_feedback_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_feedback'))
    )
    with op.batch_alter_table('customer_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_feedback_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('customers',
    sa.Column('customer_uid', sa.String(length=200), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('product_id', sa.String(length=24), nullable=True),
    sa.Column('segment_id', sa.String(length=24), nullable=True),
    sa.Column('plan_id', sa.String(length=24), nullable=True),
    sa.Column('monthly_revenue', sa.Float(), nullable=True),
    sa.Column('seats', sa.Integer(), nullable=True),
    sa.Column('signup_date', sa.Date(), nullable=True),
    sa.Column('churned_at', sa.Date(), nullable=True),
    sa.Column('attributes', sa.JSON().with_variant(postgresql.JSONB(), 'postgresql'), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['pricing_plans.id'], name=op.f('fk_customers_plan_id_pricing_plans')),
    sa.ForeignKeyConstraint(['product_id'], ['products.id'], name=op.f('fk_customers_product_id_products')),
    sa.ForeignKeyConstraint(['segment_id'], ['customer_segments.id'], name=op.f('fk_customers_segment_id_customer_segments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_customers_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_customers')),
    sa.UniqueConstraint('tenant_id', 'customer_uid', name='uq_customer_uid')
    )
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customers_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('plan_price_history',
    sa.Column('plan_id', sa.String(length=24), nullable=False),
    sa.Column('unit_price', sa.Numeric(precision=14, scale=4), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('effective_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['pricing_plans.id'], name=op.f('fk_plan_price_history_plan_id_pricing_plans')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_plan_price_history_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_price_history'))
    )
    with op.batch_alter_table('plan_price_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_price_history_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_price_history_plan_time', ['plan_id', 'effective_at'], unique=False)

    op.create_table('segment_plan_links',
    sa.Column('segment_id', sa.String(length=24), nullable=False),
    sa.Column('plan_id', sa.String(length=24), nullable=False),
    sa.Column('connection_type', sa.String(length=20), nullable=False),
    sa.Column('percentage', sa.Double(), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=24), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['pricing_plans.id'], name=op.f('fk_segment_plan_links_plan_id_pricing_plans')),
    sa.ForeignKeyConstraint(['segment_id'], ['customer_segments.id'], name=op.f('fk_segment_plan_links_segment_id_customer_segments')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_segment_plan_links_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_plan_links'))
    )
    with op.batch_alter_table('segment_plan_links', schema=None) as batch_op:
        batch_op.create_index('ix_links_plan', ['tenant_id', 'plan_id'], unique=False)
        batch_op.create_index('ix_links_segment', ['tenant_id', 'segment_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_segment_plan_links_tenant_id'), ['tenant_id'], unique=False)

    op.create_table('series_points',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('contribution_id', sa.String(length=24), nullable=False),
    sa.Column('metric', sa.String(length=20), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('value', sa.Float(), nullable=False),
    sa.Column('tenant_id', sa.String(length=24), nullable=False),
    sa.ForeignKeyConstraint(['contribution_id'], ['contributions.id'], name=op.f('fk_series_points_contribution_id_contributions')),
    sa.ForeignKeyConstraint(['tenant_id'], ['tenants.id'], name=op.f('fk_series_points_tenant_id_tenants')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_series_points')),
    sa.UniqueConstraint('contribution_id', 'metric', 'date', name='uq_series_point')
    )
    with op.batch_alter_table('series_points', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_series_points_tenant_id'), ['tenant_id'], unique=False)
        batch_op.create_index('ix_series_tenant_metric_date', ['tenant_id', 'metric', 'date'], unique=False)

    # ### end Alembic commands ###
    # One live uid per tenant and product (archived segments free their uid).
    op.execute("CREATE UNIQUE INDEX uq_segment_uid_live ON customer_segments "
               "(tenant_id, coalesce(product_id, ''), customer_segment_uid) WHERE deleted_at IS NULL")
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("ALTER TABLE search_docs ADD COLUMN tsv tsvector GENERATED ALWAYS AS "
                   "(to_tsvector('simple', coalesce(title, '') || ' ' || coalesce(body, ''))) STORED")
        op.execute("CREATE INDEX ix_search_docs_tsv ON search_docs USING gin (tsv)")
    else:
        # FTS5 over search_docs (external content, kept in step by triggers).
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(title, body, content='search_docs', "
                   "content_rowid='rowid', tokenize='unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER search_docs_ai AFTER INSERT ON search_docs BEGIN "
                   "INSERT INTO search_fts(rowid, title, body) VALUES (new.rowid, new.title, new.body); END")
        op.execute("CREATE TRIGGER search_docs_ad AFTER DELETE ON search_docs BEGIN "
                   "INSERT INTO search_fts(search_fts, rowid, title, body) "
                   "VALUES ('delete', old.rowid, old.title, old.body); END")
        op.execute("CREATE TRIGGER search_docs_au AFTER UPDATE ON search_docs BEGIN "
                   "INSERT INTO search_fts(search_fts, rowid, title, body) "
                   "VALUES ('delete', old.rowid, old.title, old.body); "
                   "INSERT INTO search_fts(rowid, title, body) VALUES (new.rowid, new.title, new.body); END")
    ensure_app_role()
    for table in TENANT_TABLES:
        enable_rls(table)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trig in ("search_docs_ai", "search_docs_ad", "search_docs_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trig}")
        op.execute("DROP TABLE IF EXISTS search_fts")
    op.execute("DROP INDEX IF EXISTS uq_segment_uid_live")
    with op.batch_alter_table('series_points', schema=None) as batch_op:
        batch_op.drop_index('ix_series_tenant_metric_date')
        batch_op.drop_index(batch_op.f('ix_series_points_tenant_id'))

    op.drop_table('series_points')
    with op.batch_alter_table('segment_plan_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_segment_plan_links_tenant_id'))
        batch_op.drop_index('ix_links_segment')
        batch_op.drop_index('ix_links_plan')

    op.drop_table('segment_plan_links')
    with op.batch_alter_table('plan_price_history', schema=None) as batch_op:
        batch_op.drop_index('ix_price_history_plan_time')
        batch_op.drop_index(batch_op.f('ix_plan_price_history_tenant_id'))

    op.drop_table('plan_price_history')
    with op.batch_alter_table('customers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customers_tenant_id'))

    op.drop_table('customers')
    with op.batch_alter_table('customer_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_feedback_tenant_id'))

    op.drop_table('customer_feedback')
    with op.batch_alter_table('contributions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_contributions_tenant_id'))
        batch_op.drop_index('ix_contrib_pair')

    op.drop_table('contributions')
    with op.batch_alter_table('usage_records', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_usage_records_tenant_id'))
        batch_op.drop_index('ix_usage_customer_date')

    op.drop_table('usage_records')
    with op.batch_alter_table('product_integrations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_product_integrations_tenant_id'))

    op.drop_table('product_integrations')
    with op.batch_alter_table('pricing_plans', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_pricing_plans_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_pricing_plans_product_id'))

    op.drop_table('pricing_plans')
    with op.batch_alter_table('data_imports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_imports_tenant_id'))

    op.drop_table('data_imports')
    with op.batch_alter_table('customer_segments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_segments_tenant_id'))
        batch_op.drop_index(batch_op.f('ix_customer_segments_product_id'))

    op.drop_table('customer_segments')
    with op.batch_alter_table('search_docs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_search_docs_tenant_id'))

    op.drop_table('search_docs')
    with op.batch_alter_table('scheduled_reports', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_scheduled_reports_tenant_id'))

    op.drop_table('scheduled_reports')
    with op.batch_alter_table('prompt_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_prompt_configs_tenant_id'))

    op.drop_table('prompt_configs')
    with op.batch_alter_table('products', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_products_tenant_id'))

    op.drop_table('products')
    with op.batch_alter_table('data_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_data_sources_tenant_id'))

    op.drop_table('data_sources')
    with op.batch_alter_table('canvas_positions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_canvas_positions_tenant_id'))

    op.drop_table('canvas_positions')
    with op.batch_alter_table('automation_configs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_automation_configs_tenant_id'))

    op.drop_table('automation_configs')
    # ### end Alembic commands ###
