"""scoring: feature snapshots, debtor scores, the score on outreach rows

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 15:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0010'
down_revision: Union[str, Sequence[str], None] = '0009'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('feature_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('debtor_phone', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('features', sa.JSON(), nullable=False),
    sa.Column('balance', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['debtor_phone'], ['debtors.phone'], name=op.f('fk_feature_snapshots_debtor_phone_debtors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_feature_snapshots')),
    sa.UniqueConstraint('debtor_phone', 'as_of', name='uq_feature_snapshots_debtor_day')
    )
    op.create_index('ix_feature_snapshots_as_of', 'feature_snapshots', ['as_of'], unique=False)
    op.create_table('debtor_scores',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('debtor_phone', sa.String(length=16), nullable=False),
    sa.Column('as_of', sa.Date(), nullable=False),
    sa.Column('model_id', sa.String(length=80), nullable=False),
    sa.Column('probability', sa.Float(), nullable=False),
    sa.Column('band', sa.String(length=1), nullable=False),
    sa.Column('expected_recovery', sa.Numeric(precision=14, scale=2), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('probability >= 0 AND probability <= 1', name=op.f('ck_debtor_scores_probability_range')),
    sa.ForeignKeyConstraint(['debtor_phone'], ['debtors.phone'], name=op.f('fk_debtor_scores_debtor_phone_debtors'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debtor_scores')),
    sa.UniqueConstraint('debtor_phone', 'as_of', 'model_id', name='uq_debtor_scores_day_model')
    )
    op.create_index('ix_debtor_scores_debtor_day', 'debtor_scores', ['debtor_phone', 'as_of'], unique=False)
    with op.batch_alter_table('outreach_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('score', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outreach_messages', schema=None) as batch_op:
        batch_op.drop_column('score')
    op.drop_index('ix_debtor_scores_debtor_day', table_name='debtor_scores')
    op.drop_table('debtor_scores')
    op.drop_index('ix_feature_snapshots_as_of', table_name='feature_snapshots')
    op.drop_table('feature_snapshots')
