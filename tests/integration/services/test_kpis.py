"""Every KPI of docs/kpis.md on the hand-built portfolio of tests/support/kpis.py (November
2026, Mexico City days), on SQLite and PostgreSQL. Each expected number is a literal, derived in
the comment next to it from the table in that module's docstring."""

from __future__ import annotations

from collections import Counter
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db import audit
from cobranza.db.audit import simulated_database
from cobranza.db.models import Debt
from cobranza.domain.kpis import DIMENSIONS, Filters, GroupKpis, Money, MoneyRate, Rate
from cobranza.domain.vocabulary import AuditAction
from cobranza.errors import Rejected
from cobranza.services.kpis import dashboard, kpis, trend
from tests.support import kpis as data
from tests.support.kpis import END, START

NOV = (START, END)


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    with db.session_scope(migrated_sessions) as session:
        data.build(session)
    return migrated_sessions


def parts(rate: Rate | MoneyRate | None) -> tuple[Any, Any] | None:
    if rate is None:
        return None
    if isinstance(rate, MoneyRate):
        return (str(rate.numerator), str(rate.denominator))
    return (rate.numerator, rate.denominator)


def funnel(k: GroupKpis) -> dict[str, Any]:
    f = k.funnel
    return {
        "sets": (f.contacted, f.replied, f.verified, f.promised, f.opted_out, f.handed_off),
        "reply": parts(f.reply_rate),
        "right_party": parts(f.right_party_rate),
        "promise": parts(f.promise_rate),
        "opt_out": parts(f.opt_out_rate),
        "handoff": parts(f.handoff_rate),
    }


def rest(k: GroupKpis) -> dict[str, Any]:
    """Everything but the funnel: messages, promises, money, roll, hand-offs, blocks."""
    m, p, money = k.messages, k.promises, k.money
    return {
        "messages": (m.sent, m.delivered),
        "made": (p.made, str(p.pesos_promised)),
        "due": (p.kept, p.broken, p.pending),
        "kept_rate": parts(p.kept_rate),
        "collected": (str(money.pesos_collected), money.payments),
        "assigned": str(money.balance_assigned),
        "debtors": None if k.roll is None else k.roll.debtors,
        "recovery": parts(money.recovery_rate),
        "transitions": None if k.roll is None else k.roll.transitions,
        "cure": None if k.roll is None else parts(k.roll.cure_rate),
        "roll_forward": None if k.roll is None else parts(k.roll.roll_forward_rate),
        "hours": sorted(k.resolution.hours),
        "blocks": dict(k.compliance.by_rule),
    }


def test_every_kpi_of_the_month(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV)
    assert (report.start_snapshot, report.end_snapshot) == (date(2026, 10, 29), date(2026, 11, 30))
    total = report.total
    assert funnel(total) == {
        # contacted: D1, D2, D3 (an agent), D4, D5, D6 (SMS); D2's refused send does not count,
        # D7 had no contact. replied: D1, D2, D5 (23:30 on 30 Nov), D6; not D3 (31 Oct).
        # verified: D1, D2, D3 (web chat), D6. promised: D1, D6 (D2's was superseded only).
        # opted out: D2. handed off: D2, D5, D6 (the ticket with no debtor does not count).
        "sets": (6, 4, 4, 2, 1, 3),
        "reply": (4, 6),  # every debtor who replied had been contacted
        "right_party": (3, 4),  # replied and verified: D1, D2, D6 (D3 verified, never replied)
        "promise": (2, 4),  # verified and promised: D1, D6
        "opt_out": (1, 6),  # contacted and opted out: D2
        "handoff": (3, 4),  # replied and handed off: D2, D5, D6
    }
    assert rest(total) == {
        # sent in November: D1, D2, D4 ×2, D5 (D2's refused one has no sent_at); delivered or
        # read: D1 (read), D2 (delivered), D5 (read); D4's are "sent" and "failed".
        "messages": (5, 3),
        # made in November and not cancelled: P-1 (1,000) and P-6B (2,000).
        "made": (2, "3000.00"),
        # due in November and not cancelled: P-1 and P-3 kept, P-6B broken, P-7 pending.
        "due": (2, 1, 1),
        "kept_rate": (2, 3),
        # D1's 1,000 on 9 Nov and D3's 6,000 at 00:30 on 1 Nov; not the 250 at 23:50 on 31 Oct,
        # nor D1's 500 on 1 Dec or 700 in October.
        "collected": ("7000.00", 2),
        # d1 3,500 + 1,000 + 500 = 5,000; d2 3,000; d2b 2,000; d3 0 + 6,000; d4 10,000; d5 0
        # (left out); d6 8,000; d7 2,500: 36,500 over D1, D2, D3, D4, D6, D7.
        "assigned": "36500.00",
        "debtors": 6,  # with a row on 29 Oct: D1, D2, D3, D4, D6, D7
        "recovery": ("7000.00", "36500.00"),
        "transitions": {
            "al_corriente": {"1-30": 1},  # D4
            "1-30": {"al_corriente": 1},  # D1
            "31-60": {"61-90": 1},  # D2
            "61-90": {"sin saldo": 1},  # D3 paid off: no row on 30 Nov
            "90+": {"90+": 2},  # D6, D7; D5 had no balance on 29 Oct: not in the population
        },
        "cure": (2, 5),  # delinquent on 29 Oct: D1, D2, D3, D6, D7; cured: D1, D3
        "roll_forward": (2, 4),  # could roll: D4, D1, D2, D3; rolled: D4, D2
        # closed in November: D6's (2 h), D2's (6 h), D4's opened in October (120 h); not the
        # ticket with no debtor.
        "hours": [2.0, 6.0, 120.0],
        # D4's two, D1's daily cap, D6's disclosure, the stranger's; not the allowed one, the
        # October one, the CLI's what-if or the desk's agent_reply_blocked copy.
        "blocks": {"contact_window": 2, "daily_cap": 1, "identity": 1, "debtor_known": 1},
    }
    assert total.funnel.reply_rate.value == 4 / 6
    assert total.money.recovery_rate is not None
    assert total.money.recovery_rate.value == pytest.approx(7000 / 36500)
    assert total.roll is not None and total.roll.cure_rate.value == 0.4
    assert (
        total.roll.roll_forward("al_corriente").value == 1.0
        and total.roll.roll_forward("90+").value is None
    )
    assert total.resolution.tickets_closed == 3
    assert total.resolution.mean_hours == pytest.approx(128 / 3)
    assert total.resolution.median_hours == 6.0
    assert total.compliance.blocked == 5
    assert report.groups == {}


def test_by_bucket_at_the_start(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "bucket")
    groups = report.groups
    # Buckets on 29 Oct: D4 al_corriente, D1 1-30, D2 31-60, D3 61-90, D6 and D7 90+; D5 and
    # the stranger have no row: "sin saldo".
    assert list(groups) == ["al_corriente", "1-30", "31-60", "61-90", "90+", "sin saldo"]
    assert {key: funnel(k) for key, k in groups.items()} == {
        "al_corriente": {  # D4: contacted twice by tardia, nothing else
            "sets": (1, 0, 0, 0, 0, 0),
            "reply": (0, 1),
            "right_party": (0, 0),
            "promise": (0, 0),
            "opt_out": (0, 1),
            "handoff": (0, 0),
        },
        "1-30": {  # D1: the whole funnel
            "sets": (1, 1, 1, 1, 0, 0),
            "reply": (1, 1),
            "right_party": (1, 1),
            "promise": (1, 1),
            "opt_out": (0, 1),
            "handoff": (0, 1),
        },
        "31-60": {  # D2: no promise (superseded), opted out, handed off
            "sets": (1, 1, 1, 0, 1, 1),
            "reply": (1, 1),
            "right_party": (1, 1),
            "promise": (0, 1),
            "opt_out": (1, 1),
            "handoff": (1, 1),
        },
        "61-90": {  # D3: contacted by an agent, verified on the web chat, no reply
            "sets": (1, 0, 1, 0, 0, 0),
            "reply": (0, 1),
            "right_party": (0, 0),
            "promise": (0, 1),
            "opt_out": (0, 1),
            "handoff": (0, 0),
        },
        "90+": {  # D6 (D7 did nothing)
            "sets": (1, 1, 1, 1, 0, 1),
            "reply": (1, 1),
            "right_party": (1, 1),
            "promise": (1, 1),
            "opt_out": (0, 1),
            "handoff": (1, 1),
        },
        "sin saldo": {  # D5: contacted, replied, handed off
            "sets": (1, 1, 0, 0, 0, 1),
            "reply": (1, 1),
            "right_party": (0, 1),
            "promise": (0, 0),
            "opt_out": (0, 1),
            "handoff": (1, 1),
        },
    }
    assert rest(groups["al_corriente"]) == {
        "messages": (2, 0),  # D4's sent and failed
        "made": (0, "0.00"),
        "due": (0, 0, 0),
        "kept_rate": (0, 0),
        "collected": ("0.00", 0),
        "assigned": "10000.00",
        "debtors": 1,
        "recovery": ("0.00", "10000.00"),
        "transitions": {"al_corriente": {"1-30": 1}},
        "cure": (0, 0),
        "roll_forward": (1, 1),
        "hours": [120.0],  # D4's October ticket, closed on 2 Nov
        "blocks": {"contact_window": 2},
    }
    assert rest(groups["61-90"]) == {
        "messages": (0, 0),
        "made": (0, "0.00"),
        "due": (1, 0, 0),  # P-3, made in October, due 2 Nov, kept
        "kept_rate": (1, 1),
        "collected": ("6000.00", 1),
        "assigned": "6000.00",
        "debtors": 1,
        "recovery": ("6000.00", "6000.00"),
        "transitions": {"61-90": {"sin saldo": 1}},
        "cure": (1, 1),
        "roll_forward": (0, 1),
        "hours": [],
        "blocks": {},
    }
    assert rest(groups["90+"])["due"] == (0, 1, 1)  # P-6B broken, P-7 pending
    assert rest(groups["90+"])["assigned"] == "10500.00"  # d6 8,000 + d7 2,500
    assert rest(groups["90+"])["cure"] == (0, 2)
    assert rest(groups["90+"])["roll_forward"] == (0, 0)  # 90+ cannot roll forward
    assert groups["90+"].roll is not None and groups["90+"].roll.roll_forward_rate.value is None
    assert rest(groups["sin saldo"]) == {
        "messages": (1, 1),  # D5's, read
        "made": (0, "0.00"),
        "due": (0, 0, 0),
        "kept_rate": (0, 0),
        "collected": ("0.00", 0),
        "assigned": "0.00",  # d5 was paid in October
        "debtors": 0,
        "recovery": ("0.00", "0.00"),
        "transitions": {},
        "cure": (0, 0),
        "roll_forward": (0, 0),
        "hours": [],
        "blocks": {"debtor_known": 1},  # the stranger has no snapshot either
    }
    assert groups["sin saldo"].money.recovery_rate is not None
    assert groups["sin saldo"].money.recovery_rate.value is None


def test_bucket_and_persona_groups_add_up_to_the_total(sessions: sessionmaker) -> None:
    with sessions() as session:
        total = kpis(session, *NOV).total
        by_split = {split: kpis(session, *NOV, split).groups for split in ("bucket", "persona")}
    assert list(by_split["persona"]) == ["estandar", "evasivo", "sin persona"]
    for split, groups in by_split.items():
        for field in ("contacted", "replied", "verified", "promised", "opted_out", "handed_off"):
            assert sum(getattr(k.funnel, field) for k in groups.values()) == getattr(
                total.funnel, field
            ), (split, field)
        assert sum(k.messages.sent for k in groups.values()) == 5
        assert sum((k.money.pesos_collected for k in groups.values()), Decimal(0)) == Decimal(
            "7000.00"
        )
        assert sum(
            (k.money.balance_assigned or Decimal(0) for k in groups.values()), Decimal(0)
        ) == Decimal("36500.00")
        assert sum(k.compliance.blocked for k in groups.values()) == 5
    persona = by_split["persona"]
    # estandar: D1, D2, D6, D7; evasivo: D3, D5; sin persona: D4 and the stranger.
    assert funnel(persona["estandar"])["sets"] == (3, 3, 3, 2, 1, 2)
    assert funnel(persona["evasivo"])["sets"] == (2, 1, 1, 0, 0, 1)
    assert persona["sin persona"].compliance.by_rule == {"contact_window": 2, "debtor_known": 1}


def test_by_creditor_a_debtor_counts_for_each_creditor_a_debt_for_its_own(
    sessions: sessionmaker,
) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "creditor")
    assert list(report.groups) == ["acme", "bravo", "sin acreedor"]
    assert report.labels == {"acme": "Acme Financiera (acme)", "bravo": "Bravo Crédito (bravo)"}
    acme, bravo = report.groups["acme"], report.groups["bravo"]
    # acme's debtors: D1, D2, D4, D6; bravo's: D2 (d2b), D3, D5, D7. D2 counts for both.
    assert funnel(acme) == {
        "sets": (4, 3, 3, 2, 1, 2),  # promises are on acme's debts: P-1 (d1), P-6B (d6)
        "reply": (3, 4),
        "right_party": (3, 3),
        "promise": (2, 3),
        "opt_out": (1, 4),
        "handoff": (2, 3),  # D2, D6
    }
    assert funnel(bravo) == {
        "sets": (3, 2, 2, 0, 1, 2),  # no promise made on a bravo debt in November
        "reply": (2, 3),
        "right_party": (1, 2),  # D2 (D5 never verified)
        "promise": (0, 2),
        "opt_out": (1, 3),
        "handoff": (2, 2),
    }
    assert rest(acme) == {
        "messages": (4, 2),  # D1, D2, D4 ×2
        "made": (2, "3000.00"),
        "due": (1, 1, 0),  # P-1 kept, P-6B broken (P-7 is bravo's)
        "kept_rate": (1, 2),
        "collected": ("1000.00", 1),  # on d1
        "assigned": "26000.00",  # d1 5,000 + d2 3,000 + d4 10,000 + d6 8,000
        "debtors": 4,
        "recovery": ("1000.00", "26000.00"),
        "transitions": {
            "1-30": {"al_corriente": 1},
            "31-60": {"61-90": 1},
            "al_corriente": {"1-30": 1},
            "90+": {"90+": 1},
        },
        "cure": (1, 3),
        "roll_forward": (2, 3),
        "hours": [2.0, 6.0, 120.0],
        "blocks": {"daily_cap": 1, "contact_window": 2, "identity": 1},
    }
    assert rest(bravo) == {
        "messages": (2, 2),  # D2, D5
        "made": (0, "0.00"),
        "due": (1, 0, 1),  # P-3 kept, P-7 pending
        "kept_rate": (1, 1),
        "collected": ("6000.00", 1),  # on d3
        "assigned": "10500.00",  # d2b 2,000 + d3 6,000 + d7 2,500
        "debtors": 3,  # D2, D3, D7 (D5 had no balance on 29 Oct)
        "recovery": ("6000.00", "10500.00"),
        "transitions": {"31-60": {"61-90": 1}, "61-90": {"sin saldo": 1}, "90+": {"90+": 1}},
        "cure": (1, 3),
        "roll_forward": (1, 2),
        "hours": [6.0],
        "blocks": {},
    }
    stranger = report.groups["sin acreedor"]
    assert stranger.compliance.by_rule == {"debtor_known": 1}
    assert funnel(stranger)["sets"] == (0, 0, 0, 0, 0, 0)


def test_by_channel_rows_with_a_channel_keep_it(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "channel")
    assert list(report.groups) == ["sms", "webchat", "whatsapp", "sin contacto"]
    whatsapp, sms, webchat = (report.groups[c] for c in ("whatsapp", "sms", "webchat"))
    assert funnel(whatsapp) == {
        # on WhatsApp: contacted D1–D5, replied D1, D2, D5, verified D1, D2, D6, promised D1,
        # D6, opted out D2, handed off D2, D5, D6.
        "sets": (5, 3, 3, 2, 1, 3),
        "reply": (3, 5),
        "right_party": (2, 3),  # D1, D2 (D6 replied by SMS)
        "promise": (2, 3),
        "opt_out": (1, 5),
        "handoff": (2, 3),
    }
    assert funnel(sms) == {  # D6 wrote back by SMS, verified and promised on WhatsApp
        "sets": (1, 1, 0, 0, 0, 0),
        "reply": (1, 1),
        "right_party": (0, 1),
        "promise": (0, 0),
        "opt_out": (0, 1),
        "handoff": (0, 1),
    }
    assert funnel(webchat)["sets"] == (0, 0, 1, 0, 0, 0)  # D3's verification
    assert rest(whatsapp) == {
        "messages": (5, 3),
        "made": (2, "3000.00"),
        "due": (1, 1, 1),  # P-1, P-6B, P-7 were made on WhatsApp; P-3 on the web chat
        "kept_rate": (1, 2),
        # Payments and balances have no channel: the debtors touched on WhatsApp, D1–D5.
        "collected": ("7000.00", 2),
        "assigned": "26000.00",  # D1 5,000 + D2 5,000 + D3 6,000 + D4 10,000
        "debtors": 4,
        "recovery": ("7000.00", "26000.00"),
        "transitions": {
            "1-30": {"al_corriente": 1},
            "31-60": {"61-90": 1},
            "61-90": {"sin saldo": 1},
            "al_corriente": {"1-30": 1},
        },
        "cure": (2, 3),
        "roll_forward": (2, 4),
        "hours": [2.0, 6.0, 120.0],  # the three tickets were on WhatsApp
        "blocks": {"daily_cap": 1, "contact_window": 2, "debtor_known": 1},
    }
    assert rest(sms)["assigned"] == "8000.00" and rest(sms)["blocks"] == {"identity": 1}
    assert rest(webchat)["due"] == (1, 0, 0) and rest(webchat)["assigned"] == "0.00"
    untouched = report.groups["sin contacto"]  # D7 (and the stranger)
    assert funnel(untouched)["sets"] == (0, 0, 0, 0, 0, 0)
    assert rest(untouched)["assigned"] == "2500.00"
    assert rest(untouched)["transitions"] == {"90+": {"90+": 1}}


def test_by_campaign_the_audience_and_its_own_messages(sessions: sessionmaker) -> None:
    with sessions() as session:
        report = kpis(session, *NOV, "campaign")
    assert list(report.groups) == ["tardia", "temprana", "sin campaña"]
    temprana, tardia, none = (report.groups[c] for c in ("temprana", "tardia", "sin campaña"))
    # temprana touched D1, D2, D5; tardia D4; no campaign touched D3, D6, D7 (nor the stranger).
    assert funnel(temprana) == {
        "sets": (3, 3, 2, 1, 1, 2),
        "reply": (3, 3),
        "right_party": (2, 3),
        "promise": (1, 2),
        "opt_out": (1, 3),
        "handoff": (2, 3),
    }
    assert funnel(none) == {
        "sets": (2, 1, 2, 1, 0, 1),  # D3 and D6 contacted by agents
        "reply": (1, 2),
        "right_party": (1, 1),
        "promise": (1, 2),
        "opt_out": (0, 2),
        "handoff": (1, 1),
    }
    assert rest(temprana) == {
        "messages": (3, 3),
        "made": (1, "1000.00"),
        "due": (1, 0, 0),
        "kept_rate": (1, 1),
        "collected": ("1000.00", 1),
        "assigned": "10000.00",  # D1 5,000 + D2 5,000 (D5 had nothing left)
        "debtors": 2,
        "recovery": ("1000.00", "10000.00"),
        "transitions": {"1-30": {"al_corriente": 1}, "31-60": {"61-90": 1}},
        "cure": (1, 2),
        "roll_forward": (1, 2),
        "hours": [6.0],
        "blocks": {"daily_cap": 1},  # decided for campaign:temprana
    }
    assert rest(tardia)["messages"] == (2, 0)
    assert rest(tardia)["blocks"] == {"contact_window": 2}
    assert rest(tardia)["hours"] == [120.0]
    assert rest(none)["collected"] == ("6000.00", 1)
    assert rest(none)["assigned"] == "16500.00"  # d3 6,000 + d6 8,000 + d7 2,500
    assert rest(none)["blocks"] == {"identity": 1, "debtor_known": 1}  # initiated by the bot


def test_by_arm_the_debtors_exposed_by_the_end_of_the_range(sessions: sessionmaker) -> None:
    """Arms group debtors, like personas: D4 alone is "sin persona" and the control arm, D3 and
    D5 are "evasivo" and the variant, the rest (D1 exposed only in December) "estandar". The
    stranger (no debtor row) is in no arm and no persona: its block moves from "sin persona"
    to "sin experimento"."""
    with sessions() as session:
        arms = kpis(session, *NOV, "arm").groups
        personas = kpis(session, *NOV, "persona").groups
    assert set(arms) == {"saludo/control", "saludo/directo", "sin experimento"}
    stranger = {"debtor_known": 1}
    for arm, persona, moved in (
        ("saludo/control", "sin persona", -1),
        ("saludo/directo", "evasivo", 0),
        ("sin experimento", "estandar", +1),
    ):
        by_arm, by_persona = rest(arms[arm]), rest(personas[persona])
        blocks = Counter(by_persona.pop("blocks"))
        blocks.update({rule: n * moved for rule, n in stranger.items()})
        assert by_arm.pop("blocks") == {rule: n for rule, n in blocks.items() if n}, arm
        assert (funnel(arms[arm]), by_arm) == (funnel(personas[persona]), by_persona), arm


def test_filters_keep_the_rows_of_the_groups_given(sessions: sessionmaker) -> None:
    with sessions() as session:
        acme = kpis(session, *NOV, filters=Filters(creditor="acme")).total
        by_creditor = kpis(session, *NOV, "creditor").groups["acme"]
        narrow = kpis(session, *NOV, "bucket", Filters(creditor="acme", campaign="temprana"))
    assert (funnel(acme), rest(acme)) == (funnel(by_creditor), rest(by_creditor))
    # acme's debtors touched by temprana: D1 (1-30), D2 (31-60).
    assert list(narrow.groups) == ["1-30", "31-60"]
    assert funnel(narrow.total)["sets"] == (2, 2, 2, 1, 1, 1)
    assert rest(narrow.total)["messages"] == (2, 2)
    assert rest(narrow.total)["assigned"] == "8000.00"  # d1 5,000 + d2 3,000 (not d2b)
    assert rest(narrow.total)["blocks"] == {"daily_cap": 1}
    assert narrow.filters.items() == [("creditor", "acme"), ("campaign", "temprana")]


def test_the_trend_lists_every_day_of_the_range(sessions: sessionmaker) -> None:
    with sessions() as session:
        days = trend(session, *NOV)
    assert list(days) == [date(2026, 11, d) for d in range(1, 31)]
    first, third = days[date(2026, 11, 1)], days[date(2026, 11, 3)]
    assert first.money.pesos_collected == Decimal("6000.00")  # D3 at 00:30 local (06:30 UTC)
    assert first.money.balance_assigned is None and first.money.recovery_rate is None
    assert first.roll is None and first.funnel.contacted == 0
    assert first.funnel.reply_rate.value is None
    assert funnel(third)["sets"] == (1, 1, 1, 1, 0, 0)  # D1's day
    assert rest(third)["messages"] == (1, 1) and rest(third)["blocks"] == {"daily_cap": 1}
    assert days[date(2026, 11, 2)].promises.kept == 1  # P-3, due 2 Nov
    assert days[date(2026, 11, 2)].resolution.hours == (120.0,)
    assert days[date(2026, 11, 7)].funnel.opted_out == 1  # D2, not contacted that day:
    assert days[date(2026, 11, 7)].funnel.opt_out_rate.value is None
    assert days[date(2026, 11, 15)].compliance.by_rule == {"contact_window": 1}  # 22:30 local
    last = days[date(2026, 11, 30)]  # D5 at 23:30 and 23:40 local, 05:30 UTC on 1 Dec
    assert (last.funnel.replied, last.funnel.handed_off, last.promises.pending) == (1, 1, 1)
    nothing = GroupKpis(money=Money(balance_assigned=None), roll=None)
    assert days[date(2026, 11, 4)] == nothing
    assert sum(d.messages.sent for d in days.values()) == 5
    assert sum((d.money.pesos_collected for d in days.values()), Decimal(0)) == Decimal("7000.00")


def test_the_range_is_in_the_zone_given(sessions: sessionmaker) -> None:
    """In Tijuana (UTC−7 on 31 Oct), D3's payment at 00:30 on 1 Nov in Mexico City was made at
    23:30 on 31 Oct: out of the range, and not added back to d3's balance at its start."""
    with sessions() as session:
        report = kpis(session, *NOV, zone="America/Tijuana")
    assert rest(report.total)["collected"] == ("1000.00", 1)
    assert rest(report.total)["assigned"] == "30500.00"
    assert report.total.funnel.replied == 4  # D5's 23:30 in Mexico City is 21:30 in Tijuana


def test_without_a_start_snapshot_buckets_are_unknown(sessions: sessionmaker) -> None:
    """10–20 Nov: no snapshot from 3 to 9 Nov (the week before), so no start; the end is 15 Nov."""
    with sessions() as session:
        report = kpis(session, date(2026, 11, 10), date(2026, 11, 20), "bucket")
    assert (report.start_snapshot, report.end_snapshot) == (None, date(2026, 11, 15))
    assert list(report.groups) == ["sin registro"]
    assert report.total.roll is not None and report.total.roll.transitions == {}
    assert report.total.roll.cure_rate.value is None
    assert report.total.funnel.contacted == 2  # D4 (10 and 20 Nov), D6 (12 Nov)


def test_an_empty_portfolio_has_no_rates(migrated_sessions: sessionmaker) -> None:
    with migrated_sessions() as session:
        report = kpis(session, *NOV, "bucket")
        days = trend(session, *NOV)
    assert report.groups == {} and report.start_snapshot is None
    total = report.total
    rates = [
        total.funnel.reply_rate,
        total.funnel.right_party_rate,
        total.funnel.promise_rate,
        total.funnel.opt_out_rate,
        total.funnel.handoff_rate,
        total.messages.delivery_rate,
        total.promises.kept_rate,
        total.money.recovery_rate,
    ]
    assert total.roll is not None
    rates += [total.roll.cure_rate, total.roll.roll_forward_rate]
    assert [r.value if r is not None else "missing" for r in rates] == [None] * len(rates)
    assert total.money.balance_assigned == Decimal("0.00")
    assert total.resolution.mean_hours is None and total.resolution.median_hours is None
    assert len(days) == 30 and all(d.funnel.contacted == 0 for d in days.values())


@pytest.mark.parametrize(
    ("start", "end", "split", "zone", "message"),
    [
        (date(2026, 11, 30), date(2026, 11, 1), None, "America/Mexico_City", "empieza después"),
        (*NOV, "experimento", "America/Mexico_City", "desglosar"),
        (date(2025, 1, 1), date(2026, 1, 2), "day", "America/Mexico_City", "366"),
        (*NOV, None, "Marte/Olimpo", "zona horaria"),
        (date(1, 1, 1), date(2026, 11, 30), None, "America/Mexico_City", "las fechas van"),
        (START, date(9999, 12, 31), None, "America/Mexico_City", "las fechas van"),
        (*NOV, None, "../../etc/passwd", "zona horaria"),
    ],
)
def test_bad_questions_are_rejected(
    migrated_sessions: sessionmaker,
    start: date,
    end: date,
    split: str | None,
    zone: str,
    message: str,
) -> None:
    with migrated_sessions() as session, pytest.raises(Rejected, match=message):
        kpis(session, start, end, split, zone=zone)


def test_every_dimension_can_split_and_filter(sessions: sessionmaker) -> None:
    """A filter on a group a split produced keeps exactly that group's KPIs."""
    with sessions() as session:
        for dimension in DIMENSIONS:
            groups = kpis(session, *NOV, dimension).groups
            key, expected = next(iter(groups.items()))
            found = kpis(session, *NOV, filters=Filters(**{dimension: key})).total
            assert (funnel(found), rest(found)) == (funnel(expected), rest(expected)), dimension


def _reached_and_kept(k: GroupKpis) -> tuple[int, int]:
    return (k.messages.debtors_delivered, k.promises.debtors_kept)


def test_the_funnels_delivered_and_kept_steps_count_each_debtor_once(
    sessions: sessionmaker,
) -> None:
    """Distinct debtors with a delivered (or read) message sent in the range, and with a kept
    promise among those due in it. D1 gets a second read message (4 Nov) and a second kept
    promise (due 11 Nov): more messages and promises, the same debtors."""
    with db.session_scope(sessions) as session:
        d1 = session.execute(select(Debt.id).where(Debt.contract_number == "C-1")).scalar_one()
        data._message(session, data.D1, "temprana", data.local(11, 4, 10), "read")
        data._promise(
            session,
            "P-1B",
            data.D1,
            d1,
            "500.00",
            data.local(11, 4, 11),
            date(2026, 11, 11),
            "kept",
        )
    with sessions() as session:
        total = kpis(session, *NOV).total
        by = {split: kpis(session, *NOV, split).groups for split in DIMENSIONS}
        days = trend(session, *NOV)
        only = kpis(session, *NOV, filters=Filters(campaign="temprana")).total
    # delivered or read: D1 (twice), D2, D5; D4's are "sent" and "failed". Kept and due in
    # November: P-1 and P-1B (D1), P-3 (D3).
    assert (total.messages.delivered, total.promises.kept) == (4, 3)
    assert _reached_and_kept(total) == (3, 2)
    # Bucket on 29 Oct: D1 1-30, D2 31-60, D3 61-90, D5 none (sin saldo).
    assert {k: _reached_and_kept(g) for k, g in by["bucket"].items()} == {
        "al_corriente": (0, 0),
        "1-30": (1, 1),
        "31-60": (1, 0),
        "61-90": (0, 1),
        "90+": (0, 0),
        "sin saldo": (1, 0),
    }
    # The messages' own campaign; a promise has none: its debtor's (D3: an agent's contact).
    assert _reached_and_kept(by["campaign"]["temprana"]) == (3, 1)
    assert _reached_and_kept(by["campaign"]["tardia"]) == (0, 0)
    assert _reached_and_kept(by["campaign"]["sin campaña"]) == (0, 1)
    assert _reached_and_kept(only) == (3, 1)
    # The debtor's creditors for a message (D2 owes both); a promise's own debt's creditor.
    assert _reached_and_kept(by["creditor"]["acme"]) == (2, 1)
    assert _reached_and_kept(by["creditor"]["bravo"]) == (2, 1)
    assert _reached_and_kept(by["persona"]["estandar"]) == (2, 1)  # D1, D2; D1
    assert _reached_and_kept(by["persona"]["evasivo"]) == (1, 1)  # D5; D3
    assert _reached_and_kept(by["channel"]["whatsapp"]) == (3, 1)  # messages; P-1 and P-1B
    assert _reached_and_kept(by["channel"]["webchat"]) == (0, 1)  # P-3 was made on the web chat
    found = {d.day: _reached_and_kept(k) for d, k in days.items() if _reached_and_kept(k) != (0, 0)}
    assert found == {2: (0, 1), 3: (1, 0), 4: (1, 0), 5: (1, 0), 10: (0, 1), 11: (0, 1), 25: (1, 0)}


def test_the_dashboard_is_the_kpis_the_trend_and_whether_the_data_is_simulated(
    sessions: sessionmaker,
) -> None:
    with sessions() as session:
        board = dashboard(session, *NOV, "persona")
        assert board.report == kpis(session, *NOV, "persona")
        assert board.trend == trend(session, *NOV)
    assert board.simulated is False and board.as_dict()["simulated"] is False
    with db.session_scope(sessions) as session:
        # what `cobranza simulate` writes when it loads its portfolio (cobranza/simulation/run.py)
        audit.record(
            session, data.local(11, 1, 5), AuditAction.SIMULATION_STARTED, None, actor="simulacion"
        )
    with sessions() as session:
        assert dashboard(session, *NOV).simulated is True
        assert simulated_database(session) is True
