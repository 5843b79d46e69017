"""conversation leases: which replica answers a WhatsApp sender; replies attempted per message

Several Rasa replicas share this database. ``conversation_leases`` is our lock store across
them (Rasa's OSS lock stores are not safe across replicas): only a sender's lease holder runs
that sender's turns. ``whatsapp_reply_attempts`` records the k-th reply to an inbound message
before the Graph API call, so a turn re-run after a crash does not send it twice.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02 12:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0015'
down_revision: Union[str, Sequence[str], None] = '0014'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('conversation_leases',
    sa.Column('wa_id', sa.String(length=20), nullable=False),
    sa.Column('holder', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('wa_id', name=op.f('pk_conversation_leases'))
    )
    op.create_table('whatsapp_reply_attempts',
    sa.Column('reply_to', sa.String(length=128), nullable=False),
    sa.Column('ordinal', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('message_id', sa.String(length=128), nullable=True),
    sa.CheckConstraint('ordinal >= 0', name=op.f('ck_whatsapp_reply_attempts_ordinal')),
    sa.ForeignKeyConstraint(['reply_to'], ['whatsapp_inbound.message_id'], name=op.f('fk_whatsapp_reply_attempts_reply_to_whatsapp_inbound'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('reply_to', 'ordinal', name=op.f('pk_whatsapp_reply_attempts'))
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('whatsapp_reply_attempts')
    op.drop_table('conversation_leases')
