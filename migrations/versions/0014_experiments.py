"""experiments: each debtor's first exposure to an experiment and the arm they saw

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 12:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0014'
down_revision: Union[str, Sequence[str], None] = '0013'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('experiment_exposures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('experiment', sa.String(length=60), nullable=False),
    sa.Column('arm', sa.String(length=40), nullable=False),
    sa.Column('debtor_phone', sa.String(length=16), nullable=False),
    sa.Column('exposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('outreach_message_id', sa.Integer(), nullable=True),
    sa.Column('conversation_id', sa.String(length=128), nullable=True),
    sa.CheckConstraint('(outreach_message_id IS NOT NULL AND conversation_id IS NULL) OR (outreach_message_id IS NULL AND conversation_id IS NOT NULL)', name=op.f('ck_experiment_exposures_one_source')),
    sa.ForeignKeyConstraint(['debtor_phone'], ['debtors.phone'], name=op.f('fk_experiment_exposures_debtor_phone_debtors'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['outreach_message_id'], ['outreach_messages.id'], name=op.f('fk_experiment_exposures_outreach_message_id_outreach_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_experiment_exposures')),
    sa.UniqueConstraint('experiment', 'debtor_phone', name='uq_experiment_exposures_debtor')
    )
    op.create_index('ix_experiment_exposures_experiment_time', 'experiment_exposures', ['experiment', 'exposed_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_experiment_exposures_experiment_time', table_name='experiment_exposures')
    op.drop_table('experiment_exposures')
