"""console security: login attempts and lockouts, session idle timeout

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 05:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0008'
down_revision: Union[str, Sequence[str], None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('console_login_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('username', sa.String(length=60), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.CheckConstraint("outcome IN ('pending', 'failed', 'succeeded', 'refused', 'forgiven')", name=op.f('ck_console_login_attempts_outcome')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_login_attempts'))
    )
    op.create_index('ix_console_login_attempts_address_time', 'console_login_attempts', ['address', 'occurred_at'], unique=False)
    op.create_index('ix_console_login_attempts_username_time', 'console_login_attempts', ['username', 'occurred_at'], unique=False)
    op.create_table('console_lockouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=8), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('locked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("scope IN ('user', 'address')", name=op.f('ck_console_lockouts_scope')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_console_lockouts'))
    )
    op.create_index('ix_console_lockouts_subject', 'console_lockouts', ['scope', 'subject', 'locked_until'], unique=False)
    # Sessions in force keep working: their last activity is taken to be their login.
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE agent_sessions SET last_seen_at = created_at")
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.alter_column('last_seen_at', existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table('agent_sessions', schema=None) as batch_op:
        batch_op.drop_column('last_seen_at')
    op.drop_index('ix_console_lockouts_subject', table_name='console_lockouts')
    op.drop_table('console_lockouts')
    op.drop_index('ix_console_login_attempts_username_time', table_name='console_login_attempts')
    op.drop_index('ix_console_login_attempts_address_time', table_name='console_login_attempts')
    op.drop_table('console_login_attempts')
