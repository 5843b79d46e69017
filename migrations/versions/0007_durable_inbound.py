"""durable inbound: WhatsApp messages are processed from the database

Every inbound message is stored as pending with what processing needs (text or payload, the
polite answer's kind) before the webhook answers 200; a worker marks it done or failed. Rows
written before this revision were already handled in memory: they become "done".

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 04:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0007'
down_revision: Union[str, Sequence[str], None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table('whatsapp_inbound', schema=None) as batch_op:
        batch_op.add_column(sa.Column('body', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('polite_kind', sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column('status', sa.String(length=16), nullable=False, server_default='done')
        )
        batch_op.add_column(sa.Column('status_reason', sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table('whatsapp_inbound', schema=None) as batch_op:
        # The default only filled the existing rows; new ones always say their status.
        batch_op.alter_column('status', existing_type=sa.String(length=16), server_default=None)
        batch_op.create_check_constraint(
            op.f('ck_whatsapp_inbound_status'), "status IN ('pending', 'done', 'failed')"
        )
        batch_op.create_index(
            'ix_whatsapp_inbound_status_wa_id_time', ['status', 'wa_id', 'sent_at'], unique=False
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table('whatsapp_inbound', schema=None) as batch_op:
        batch_op.drop_index('ix_whatsapp_inbound_status_wa_id_time')
        batch_op.drop_constraint(op.f('ck_whatsapp_inbound_status'), type_='check')
        batch_op.drop_column('processed_at')
        batch_op.drop_column('status_reason')
        batch_op.drop_column('status')
        batch_op.drop_column('polite_kind')
        batch_op.drop_column('body')
