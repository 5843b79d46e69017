"""The conversation family of the KPIs (cobranza/services/kpis/conversations.py, docs/kpis.md):
messages received, not understood, and the assistant's, from ``conversation_turns``, on the
hand-built portfolio of tests/support/kpis.py plus the turns below, on SQLite and PostgreSQL.
Mexico City days (UTC-6 in November 2026).

=======  ========  ====================  ===========  =======  ===========================
sender   channel   local time            intent       verdict  bot messages after it
=======  ========  ====================  ===========  =======  ===========================
A        whatsapp  10 Nov 10:00          saludar      no       2
A        whatsapp  10 Nov 10:05          nlu_fallback yes      1
B        webchat   11 Nov 23:30 (05:30   (none)       —        1 (written before the user's)
                   UTC on 12 Nov)
C        (none)    11 Nov 12:00          informar     no       1
D        —         11 Nov 13:00          —            —        1 (no user message before it)
A        webchat   12 Nov 09:00          saludar      no       1 (A's channel is webchat now)
E        whatsapp  30 Nov 23:59          nlu_fallback yes      0
E        whatsapp  31 Oct 23:59 (decoy)  nlu_fallback yes      1 (decoy, 1 Nov 00:00:30)
=======  ========  ====================  ===========  =======  ===========================

In November: 6 received, 5 with a verdict, 2 not understood, 8 bot messages (the October
decoy's answer is on 1 Nov and counts: a bot message is a row of its own)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.cli.render import kpis_table
from cobranza.db.models import ConversationTurn
from cobranza.domain.kpis import Conversation, Filters, GroupKpis, flat, kpis_csv
from cobranza.events.store import record
from cobranza.events.turns import SenderKeys, Turn
from cobranza.services.kpis import dashboard, kpis, trend
from tests.support import kpis as data
from tests.support.kpis import END, START, local

KEYS = SenderKeys(b"k" * 32)
NOV = (START, END)


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    with db.session_scope(migrated_sessions) as session:
        data.build(session)
        for turn in TURNS:
            assert record(session, turn, datetime(2026, 12, 1, tzinfo=timezone.utc))
    return migrated_sessions


def turn(
    sender: str, kind: str, at: datetime, channel: str | None = None,
    intent: str | None = None, fell_back: bool | None = None,
) -> Turn:  # fmt: skip
    stamp = at.timestamp()
    return Turn(
        event_key=KEYS.event(kind, sender, stamp),
        sender_key=KEYS.sender(sender),
        kind=kind,
        channel=channel,
        intent=intent,
        confidence=None if intent is None else (0.5 if fell_back else 0.9),
        nlu_fallback=fell_back,
        received_at=at.astimezone(timezone.utc),
    )


def user(sender: str, at: datetime, channel: str | None, intent: str | None) -> Turn:
    fell_back = None if intent is None else intent == "nlu_fallback"
    return turn(sender, "user", at, channel, intent, fell_back)


def bot(sender: str, at: datetime) -> Turn:
    return turn(sender, "bot", at)


S = timedelta(seconds=1)
TURNS = [
    user("A", local(11, 10, 10), "whatsapp", "saludar"),
    bot("A", local(11, 10, 10) + S),
    bot("A", local(11, 10, 10) + 2 * S),
    user("A", local(11, 10, 10, 5), "whatsapp", "nlu_fallback"),
    bot("A", local(11, 10, 10, 5) + S),
    bot("B", local(11, 11, 23, 30) + S),  # written before its user message: no channel copied
    user("B", local(11, 11, 23, 30), "webchat", None),
    user("C", local(11, 11, 12), None, "informar"),
    bot("C", local(11, 11, 12) + S),
    bot("D", local(11, 11, 13)),
    user("A", local(11, 12, 9), "webchat", "saludar"),
    bot("A", local(11, 12, 9) + S),
    user("E", local(11, 30, 23, 59), "whatsapp", "nlu_fallback"),
    user("E", local(10, 31, 23, 59), "whatsapp", "nlu_fallback"),
    bot("E", local(11, 1, 0, 0) + 30 * S),
]


def test_a_bot_message_copies_its_conversations_channel_when_it_can(
    sessions: sessionmaker,
) -> None:
    with sessions() as session:
        stored = {
            (r.sender_key, r.received_at): r.channel
            for r in session.execute(
                select(ConversationTurn).where(ConversationTurn.kind == "bot")
            ).scalars()
        }

    def channel(sender: str, at: datetime) -> str | None:
        return stored[(KEYS.sender(sender), at.astimezone(timezone.utc))]

    assert channel("A", local(11, 10, 10) + S) == "whatsapp"
    assert channel("A", local(11, 12, 9) + S) == "webchat"
    assert channel("B", local(11, 11, 23, 30) + S) is None  # its user message came later
    assert channel("C", local(11, 11, 12) + S) is None  # C's message named no channel
    assert channel("D", local(11, 11, 13)) is None  # no user message at all


def parts(c: Conversation | None) -> tuple[int, int, int, int] | None:
    return None if c is None else (c.received, c.judged, c.not_understood, c.sent)


def test_the_month(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV)
    c = report.total.conversation
    assert parts(c) == (6, 5, 2, 8)
    assert c is not None and c.not_understood_rate.value == 2 / 5
    values = flat(report.total)
    assert (values["user_messages"], values["not_understood"], values["bot_messages"]) == (6, 2, 8)
    assert values["not_understood_rate"] == 2 / 5


def test_by_channel_a_bot_message_follows_its_conversation(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "channel")
    found = {k: parts(g.conversation) for k, g in report.groups.items()}
    # whatsapp: A's two and E's (30 Nov), A's three answers, E's decoy answer (E's last user
    # message before it was on WhatsApp). webchat: B's (no intent) and A's on 12 Nov, with
    # their answers (B's looked up when asked: it was written first). sin canal: C's (no
    # channel) and its answer, and D's answer with no user message before it.
    assert found["whatsapp"] == (3, 3, 2, 4)
    assert found["webchat"] == (2, 1, 0, 2)
    assert found["sin canal"] == (1, 1, 0, 2)
    # The debtors' channel groups (contact attempts: sms, agent…) have no messages here.
    others = set(found) - {"whatsapp", "webchat", "sin canal"}
    assert others and all(found[k] == (0, 0, 0, 0) for k in others)
    assert parts(report.total.conversation) == (6, 5, 2, 8)


def test_by_day_in_mexico_city(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "day")
        days = trend(session, *NOV)
    found = {k: parts(g.conversation) for k, g in report.groups.items()}
    assert found["2026-11-01"] == (0, 0, 0, 1)  # the decoy's answer, 00:00:30 local
    assert found["2026-11-10"] == (2, 2, 1, 3)
    assert found["2026-11-11"] == (2, 1, 0, 3)  # B at 23:30 local is the 11th, not the 12th
    assert found["2026-11-12"] == (1, 1, 0, 1)
    assert found["2026-11-30"] == (1, 1, 1, 0)
    assert sum(v[0] for v in found.values() if v) == 6
    assert {d.isoformat(): parts(k.conversation) for d, k in days.items()} == found


def test_a_channel_filter_keeps_its_messages(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "day", Filters(channel="webchat"))
    assert parts(report.total.conversation) == (2, 1, 0, 2)
    assert parts(report.groups["2026-11-11"].conversation) == (1, 0, 0, 1)


@pytest.mark.parametrize("split", ["bucket", "persona", "creditor", "campaign", "arm"])
def test_a_debtors_split_has_no_conversation_value_but_the_total_does(
    sessions: sessionmaker, split: str
) -> None:
    """Messages carry a keyed hash, not a debtor: they cannot be put in a persona's group."""
    with sessions() as session:
        report = kpis(session, *NOV, split)
    assert report.groups and all(g.conversation is None for g in report.groups.values())
    assert parts(report.total.conversation) == (6, 5, 2, 8)


@pytest.mark.parametrize("filters", [Filters(persona="estandar"), Filters(creditor="acme")])
def test_a_debtors_filter_leaves_the_family_without_value(
    sessions: sessionmaker, filters: Filters
) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "channel", filters)
        plain = kpis(session, *NOV, None, filters)
    assert report.total.conversation is None and plain.total.conversation is None
    assert all(g.conversation is None for g in report.groups.values())


def test_the_table_csv_and_dashboard_show_it(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "persona")
        board = dashboard(session, *NOV, "channel")
    table = kpis_table(report)
    line = next(row for row in table.splitlines() if row.startswith("mensajes recibidos"))
    assert line.split()[2] == "6" and "—" in line  # the total, then "—" for each persona
    rate = next(row for row in table.splitlines() if row.startswith("tasa de no entendidos"))
    assert "40.0 %" in rate
    csv = kpis_csv(report).splitlines()
    header = csv[0].split(",")
    assert "mensajes recibidos" in header and "tasa de no entendidos" in header
    total = dict(zip(header, csv[1].split(","), strict=True))
    assert total["mensajes recibidos"] == "6" and total["tasa de no entendidos"] == "0.400000"
    answer: dict[str, Any] = board.as_dict()
    assert answer["total"]["values"]["not_understood_rate"] == {
        "value": 0.4,
        "numerator": 2,
        "denominator": 5,
    }
    by_key = {g["key"]: g["values"] for g in answer["groups"]}
    assert by_key["webchat"]["user_messages"] == 2
    assert answer["trend"][9]["day"] == "2026-11-10"
    assert answer["trend"][9]["values"]["not_understood"] == 1


def test_the_family_adds_up_over_groups_that_partition() -> None:
    from cobranza.domain.kpis import combine

    groups = [
        GroupKpis(conversation=Conversation(2, 2, 1, 3)),
        GroupKpis(conversation=Conversation(1, 0, 0, 1)),
    ]
    assert parts(combine(groups).conversation) == (3, 2, 1, 4)
    assert combine([*groups, GroupKpis(conversation=None)]).conversation is None


def test_an_empty_month_has_no_rate(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, date(2026, 9, 1), date(2026, 9, 30))
    c = report.total.conversation
    assert parts(c) == (0, 0, 0, 0) and c is not None and c.not_understood_rate.value is None
