"""outreach rows point at their contact attempt (outreach_messages.contact_attempt_id) instead
of the dispatcher finding it by the text contact_attempts.notes = 'outreach:<row id>'

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision: str = '0011'
down_revision: Union[str, Sequence[str], None] = '0010'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

FK = 'fk_outreach_messages_contact_attempt_id_contact_attempts'
INDEX = 'ix_outreach_messages_contact_attempt_id'


def note(row_id: str) -> str:
    """SQL: the text the dispatcher wrote on the attempts of the row ``row_id`` (replies write
    it on their inbound ones too); concatenation both SQLite and PostgreSQL accept."""
    return f"'outreach:' || CAST({row_id} AS VARCHAR(20))"


def upgrade() -> None:
    with op.batch_alter_table('outreach_messages', schema=None) as batch_op:
        batch_op.add_column(sa.Column('contact_attempt_id', sa.Integer(), nullable=True))
        batch_op.create_index(INDEX, ['contact_attempt_id'], unique=False)
        batch_op.create_foreign_key(
            FK, 'contact_attempts', ['contact_attempt_id'], ['id'], ondelete='SET NULL'
        )
    # Each row's latest outbound attempt (a throttled row is claimed again: the earlier attempts
    # are settled as not_sent; the latest is the one a send in flight will settle).
    op.execute(
        "UPDATE outreach_messages SET contact_attempt_id = ("
        "SELECT MAX(a.id) FROM contact_attempts a "
        "WHERE a.debtor_phone = outreach_messages.debtor_phone "
        "AND a.direction = 'outbound' "
        f"AND a.notes = {note('outreach_messages.id')}) "
        "WHERE claimed_at IS NOT NULL"  # attempts are recorded when a row is claimed
    )


def downgrade() -> None:
    # The code before 0011 finds a row's attempt by its notes: write them on the attempts
    # recorded since (the linked attempts that have none).
    op.execute(
        "UPDATE contact_attempts SET notes = "
        + note(
            "(SELECT MAX(m.id) FROM outreach_messages m "
            "WHERE m.contact_attempt_id = contact_attempts.id)"
        )
        + " WHERE notes IS NULL AND id IN ("
        "SELECT contact_attempt_id FROM outreach_messages WHERE contact_attempt_id IS NOT NULL)"
    )
    with op.batch_alter_table('outreach_messages', schema=None) as batch_op:
        batch_op.drop_constraint(FK, type_='foreignkey')
        batch_op.drop_index(INDEX)
        batch_op.drop_column('contact_attempt_id')
