"""conversation_turns: each user and bot message Rasa's event broker published, without
personal data (a keyed hash for the sender, no text), for the KPIs (cobranza/events/)

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 20:18:12

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0016'
down_revision: Union[str, Sequence[str], None] = '0015'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('conversation_turns',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=64), nullable=False),
    sa.Column('sender_key', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=8), nullable=False),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('intent', sa.String(length=100), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('nlu_fallback', sa.Boolean(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('user', 'bot')", name=op.f('ck_conversation_turns_kind')),
    sa.CheckConstraint('confidence >= 0 AND confidence <= 1', name=op.f('ck_conversation_turns_confidence_unit')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation_turns')),
    sa.UniqueConstraint('event_key', name='uq_conversation_turns_event_key')
    )
    op.create_index('ix_conversation_turns_sender', 'conversation_turns', ['sender_key', 'kind', 'received_at'], unique=False)
    op.create_index('ix_conversation_turns_time', 'conversation_turns', ['received_at', 'kind', 'nlu_fallback', 'channel'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_conversation_turns_time', table_name='conversation_turns')
    op.drop_index('ix_conversation_turns_sender', table_name='conversation_turns')
    op.drop_table('conversation_turns')
