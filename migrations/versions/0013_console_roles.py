"""console roles: agents and supervisors; the audit log by actor and time

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 10:00:00

Every existing account stays an agent (the column's default), and its sessions go on. The audit
log gets an index on (actor, occurred_at): a supervisor reads one agent's activity over a date
range.
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0013'
down_revision: Union[str, Sequence[str], None] = '0012'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


ROLE_CHECK = "role IN ('agent', 'supervisor')"


def upgrade() -> None:
    # SQLite adds the column in place: a batch copy of `agents` would drop the old table, and
    # its foreign keys would delete every session (ON DELETE CASCADE).
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(
            "ALTER TABLE agents ADD COLUMN role VARCHAR(16) DEFAULT 'agent' NOT NULL "
            f"CONSTRAINT ck_agents_role CHECK ({ROLE_CHECK})"
        )
    else:
        op.add_column(
            'agents',
            sa.Column('role', sa.String(length=16), nullable=False, server_default='agent'),
        )
        op.create_check_constraint(op.f('ck_agents_role'), 'agents', ROLE_CHECK)
    op.create_index('ix_audit_log_actor_time', 'audit_log', ['actor', 'occurred_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_actor_time', table_name='audit_log')
    if op.get_bind().dialect.name == 'sqlite':  # in place too (SQLite 3.35+), sessions kept
        op.execute("ALTER TABLE agents DROP COLUMN role")
    else:
        op.drop_constraint(op.f('ck_agents_role'), 'agents', type_='check')
        op.drop_column('agents', 'role')
