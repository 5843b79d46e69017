"""server-side identity verifications and attempts; unique indexes instead of
check-then-insert for pending promises, active tickets and reminders

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0006'
down_revision: Union[str, Sequence[str], None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

CHANNELS = "channel IN ('whatsapp', 'webchat', 'sms', 'voice', 'email', 'rest', 'agent')"
PENDING = sa.text("status = 'pending'")
ACTIVE = sa.text("status IN ('open', 'claimed')")


def upgrade() -> None:
    op.create_table('identity_verifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('session_started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('verified_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(CHANNELS, name=op.f('ck_identity_verifications_channel')),
    sa.ForeignKeyConstraint(['phone'], ['debtors.phone'], name=op.f('fk_identity_verifications_phone_debtors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_verifications'))
    )
    op.create_index('ix_identity_verifications_conversation', 'identity_verifications', ['conversation_id', 'expires_at'], unique=False)
    op.create_table('identity_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('conversation_id', sa.String(length=128), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('phone', sa.String(length=16), nullable=False),
    sa.Column('proven', sa.Boolean(), nullable=False),
    sa.Column('succeeded', sa.Boolean(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_identity_attempts'))
    )
    op.create_index('ix_identity_attempts_conversation', 'identity_attempts', ['conversation_id', 'attempted_at'], unique=False)
    op.create_index('ix_identity_attempts_phone', 'identity_attempts', ['phone', 'attempted_at'], unique=False)

    # Existing duplicates would stop the unique indexes: keep the newest of each group.
    op.execute(
        "UPDATE promises SET status = 'cancelled' WHERE status = 'pending' AND id NOT IN "
        "(SELECT MAX(id) FROM promises WHERE status = 'pending' GROUP BY debt_id, due_date)"
    )
    op.execute(
        "UPDATE handoff_tickets SET status = 'closed', outcome = 'duplicado' "
        "WHERE status IN ('open', 'claimed') AND id NOT IN (SELECT MAX(id) FROM handoff_tickets "
        "WHERE status IN ('open', 'claimed') GROUP BY sender_id)"
    )
    op.execute(
        "DELETE FROM reminders WHERE id NOT IN "
        "(SELECT MIN(id) FROM reminders GROUP BY reference, scheduled_for)"
    )
    op.create_index('uq_promises_pending_debt_date', 'promises', ['debt_id', 'due_date'], unique=True, sqlite_where=PENDING, postgresql_where=PENDING)
    op.create_index('uq_handoff_tickets_active_sender', 'handoff_tickets', ['sender_id'], unique=True, sqlite_where=ACTIVE, postgresql_where=ACTIVE)
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_reminders_reference_moment', ['reference', 'scheduled_for'])


def downgrade() -> None:
    with op.batch_alter_table('reminders', schema=None) as batch_op:
        batch_op.drop_constraint('uq_reminders_reference_moment', type_='unique')
    op.drop_index('uq_handoff_tickets_active_sender', table_name='handoff_tickets')
    op.drop_index('uq_promises_pending_debt_date', table_name='promises')
    op.drop_index('ix_identity_attempts_phone', table_name='identity_attempts')
    op.drop_index('ix_identity_attempts_conversation', table_name='identity_attempts')
    op.drop_table('identity_attempts')
    op.drop_index('ix_identity_verifications_conversation', table_name='identity_verifications')
    op.drop_table('identity_verifications')
