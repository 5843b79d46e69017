"""outreach messages; imported payments (transaction id, match) and unmatched payments

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 14:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0009'
down_revision: Union[str, Sequence[str], None] = '0008'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OUTREACH_STATUSES = "'planned', 'sending', 'sent', 'delivered', 'read', 'failed', 'unknown', 'dropped'"
PAYMENT_MATCHES = "'reference', 'folio', 'debtor_amount', 'manual'"


def upgrade() -> None:
    op.create_table('outreach_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('debtor_phone', sa.String(length=16), nullable=False),
    sa.Column('campaign', sa.String(length=60), nullable=False),
    sa.Column('step', sa.String(length=60), nullable=False),
    sa.Column('planned_on', sa.Date(), nullable=False),
    sa.Column('reference', sa.String(length=40), nullable=True),
    sa.Column('template', sa.String(length=60), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('not_before', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('blocked_rule', sa.String(length=40), nullable=True),
    sa.Column('status_reason', sa.String(length=60), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('wamid', sa.String(length=128), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('settled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replied_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint(f"status IN ({OUTREACH_STATUSES})", name=op.f('ck_outreach_messages_status')),
    sa.ForeignKeyConstraint(['debtor_phone'], ['debtors.phone'], name=op.f('fk_outreach_messages_debtor_phone_debtors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_outreach_messages')),
    sa.UniqueConstraint('debtor_phone', 'campaign', 'step', 'planned_on', name='uq_outreach_messages_step_day'),
    sa.UniqueConstraint('wamid', name=op.f('uq_outreach_messages_wamid'))
    )
    op.create_index('ix_outreach_messages_status_time', 'outreach_messages', ['status', 'not_before'], unique=False)
    op.create_index('ix_outreach_messages_debtor_time', 'outreach_messages', ['debtor_phone', 'sent_at'], unique=False)
    op.create_table('unmatched_payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('transaction_id', sa.String(length=80), nullable=False),
    sa.Column('method', sa.String(length=20), nullable=False),
    sa.Column('amount', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reference', sa.String(length=60), nullable=True),
    sa.Column('reason', sa.String(length=40), nullable=False),
    sa.Column('source', sa.String(length=120), nullable=True),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_unmatched_payments')),
    sa.UniqueConstraint('transaction_id', name=op.f('uq_unmatched_payments_transaction_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.add_column(sa.Column('transaction_id', sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column('matched_by', sa.String(length=16), nullable=False, server_default='manual'))
        batch_op.add_column(sa.Column('source', sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column('imported_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_payments_transaction_id'), ['transaction_id'])
        batch_op.create_check_constraint(batch_op.f('ck_payments_matched_by'), f"matched_by IN ({PAYMENT_MATCHES})")
        batch_op.create_index('ix_payments_debt_time', ['debt_id', 'paid_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_debt_time')
        batch_op.drop_constraint(batch_op.f('ck_payments_matched_by'), type_='check')
        batch_op.drop_constraint(batch_op.f('uq_payments_transaction_id'), type_='unique')
        batch_op.drop_column('imported_at')
        batch_op.drop_column('source')
        batch_op.drop_column('matched_by')
        batch_op.drop_column('transaction_id')
    op.drop_table('unmatched_payments')
    op.drop_index('ix_outreach_messages_debtor_time', table_name='outreach_messages')
    op.drop_index('ix_outreach_messages_status_time', table_name='outreach_messages')
    op.drop_table('outreach_messages')
