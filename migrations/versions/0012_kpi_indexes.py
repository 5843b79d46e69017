"""kpi indexes: range indexes for the KPIs, blocked decisions, the snapshot's bucket column

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0012'
down_revision: Union[str, Sequence[str], None] = '0011'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

# Chained after 0011 (0011_outreach_attempt_link.py, written on another branch at the same
# time). Developed and tested on top of 0010; its only overlap with 0011 is an index on
# outreach_messages, created after 0011 has rebuilt that table.
# The compliance decisions that said no, as each database reads a JSON false
# (cobranza/db/models.py: blocked_decisions).
DECISIONS = "action IN ('contact_decision', 'disclosure_decision')"
BLOCKED = {
    'postgresql': DECISIONS + " AND (details ->> 'allowed') = 'false'",
    'sqlite': DECISIONS + " AND json_extract(details, '$.allowed') = 0",
}
# features["bucket"], written as each database reflects it back.
BUCKET = {
    'postgresql': "features ->> 'bucket'::text",
    'sqlite': "json_extract(features, '$.bucket')",
}
# A range index on each timestamp the KPIs read; the big tables' cover what is read, so the
# database answers from the index alone.
RANGE_INDEXES = (
    ('ix_contact_attempts_time', 'contact_attempts',
     ['attempted_at', 'debtor_phone', 'direction', 'outcome', 'channel', 'initiated_by']),
    ('ix_payments_time', 'payments', ['paid_at', 'debt_id', 'amount']),
    ('ix_promises_created_at', 'promises', ['created_at']),
    ('ix_promises_due_date', 'promises', ['due_date']),
    ('ix_consents_status_time', 'consents', ['status', 'recorded_at']),
    ('ix_handoff_tickets_created_at', 'handoff_tickets', ['created_at']),
    ('ix_handoff_tickets_closed_at', 'handoff_tickets', ['closed_at']),
    ('ix_outreach_messages_sent_at', 'outreach_messages',
     ['sent_at', 'debtor_phone', 'campaign', 'status']),
    ('ix_debts_debtor_creditor', 'debts', ['debtor_phone', 'creditor_id']),
    ('ix_identity_verifications_time', 'identity_verifications',
     ['verified_at', 'phone', 'channel']),
)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, columns in RANGE_INDEXES:
        op.create_index(name, table, columns, unique=False)
    op.create_index(
        'ix_audit_log_blocked_time',
        'audit_log',
        ['occurred_at'],
        unique=False,
        sqlite_where=sa.text(BLOCKED['sqlite']),
        postgresql_where=sa.text(BLOCKED['postgresql']),
    )
    # PostgreSQL stores a generated column; SQLite adds only virtual ones to an existing table.
    with op.batch_alter_table('feature_snapshots', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                'bucket',
                sa.String(length=16),
                sa.Computed(sa.text(BUCKET[dialect]), persisted=dialect == 'postgresql'),
                nullable=True,
            )
        )
    op.create_index(
        'ix_feature_snapshots_day_bucket',
        'feature_snapshots',
        ['as_of', 'bucket', 'debtor_phone'],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_feature_snapshots_day_bucket', table_name='feature_snapshots')
    with op.batch_alter_table('feature_snapshots', schema=None) as batch_op:
        batch_op.drop_column('bucket')
    op.drop_index('ix_audit_log_blocked_time', table_name='audit_log')
    for name, table, _ in reversed(RANGE_INDEXES):
        op.drop_index(name, table_name=table)
