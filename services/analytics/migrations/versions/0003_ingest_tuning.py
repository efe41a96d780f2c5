"""What every ingested batch touches, made cheaper to touch.

- Rollup pages keep a third free: a batch adds to a thousand rollup rows in place, and with room on
  the page PostgreSQL writes the new version beside the old (a HOT update: no index entry, and the
  old one is pruned without a vacuum).
- Alert rules found by tenant: every batch asks whether its tenant has any enabled one.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("rollups", "rollup_hours"):
        op.execute(f"alter table analytics.{table} set (fillfactor = 70)")
    op.execute("create index alert_rules_by_tenant on analytics.alert_rules (tenant_id) where enabled")


def downgrade() -> None:
    op.execute("drop index analytics.alert_rules_by_tenant")
    for table in ("rollups", "rollup_hours"):
        op.execute(f"alter table analytics.{table} reset (fillfactor)")
