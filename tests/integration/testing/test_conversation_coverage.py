"""The conversations of `make eval-conversations` cover every persona on both channels, as the
personas are assigned in the seeded demo portfolio."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db.models import Debtor
from cobranza.personas.profiles import PersonaProfile
from cobranza.testing.conversations import load_conversations


def test_every_persona_is_evaluated_on_both_channels(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    conversations = load_conversations()
    with db.session_scope(seeded_sessions) as session:
        personas = {p: n for p, n in session.execute(select(Debtor.phone, Debtor.persona))}
    covered = {(personas[c.debtor], c.channel) for c in conversations if c.debtor in personas}
    assert covered == {(name, channel) for name in profiles for channel in ("rest", "whatsapp")}
    strangers = [c for c in conversations if c.debtor not in personas]
    assert {c.channel for c in strangers} == {"rest", "whatsapp"}
    assert all(not c.documented and not c.expect.verified for c in strangers)
