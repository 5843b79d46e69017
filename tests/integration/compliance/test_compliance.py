"""The compliance engine against a real migrated SQLite database: the contact window in every
Mexican zone around the 2026/2027 US DST changes, zone resolution, consent and opt-out,
third-party flags, caps, disputes and hand-offs, replies, the disclosure gate, the audit trail,
and a property test over random instants, consent histories and prior contacts.

One database per module (Alembic migrations, seeded once); every test works in its own session
and rolls back, so nothing a test writes is seen by the next one. The engine only flushes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.compliance.decisions import (
    CONTACT,
    DISCLOSURE,
    GRANTED,
    NONE,
    REVOKED,
    Decision,
    consent_state,
    conversation_flags,
    debtor_zone,
    decide_contact,
    decide_disclosure,
    in_contact_window,
    record_contact,
)
from cobranza.config import ConfigError, load_settings
from cobranza.db import verifications
from cobranza.db.models import (
    CHANNELS,
    AuditLog,
    Consent,
    ContactAttempt,
    Creditor,
    Debt,
    Debtor,
    HandoffTicket,
)
from cobranza.services.consent import block_number, grant_consent, revoke_consent
from cobranza.services.identity import VerificationResult, verify_birth_date
from tests.support.db import sqlite_url

UTC = timezone.utc
SETTINGS = load_settings({})
BIRTH_DATE = date(1985, 3, 12)
SEEDED_AT = datetime(2025, 1, 1, tzinfo=UTC)  # every zone debtor's WhatsApp consent
NOTICE = "https://cobranza-demo.example/aviso-de-privacidad"


@dataclass(frozen=True)
class ZoneDebtor:
    key: str
    zone: str
    state: str
    municipality: str
    phone: str
    standard: int  # UTC offset in hours, written by hand (not derived from zoneinfo)
    summer: int  # the same during US daylight saving time (== standard where there is none)


# Since the 2022 reform only the US-border zones change their clocks, on the US dates.
ZONE_DEBTORS = (
    ZoneDebtor("Tijuana", "America/Tijuana", "Baja California", "Tijuana", "+526641110001", -8, -7),
    ZoneDebtor(
        "Ciudad_Juarez", "America/Ciudad_Juarez", "Chihuahua", "Juárez", "+526561110002", -7, -6
    ),
    ZoneDebtor("Ojinaga", "America/Ojinaga", "Chihuahua", "Ojinaga", "+526261110003", -6, -5),
    ZoneDebtor(
        "Matamoros", "America/Matamoros", "Tamaulipas", "Matamoros", "+528681110004", -6, -5
    ),
    ZoneDebtor(
        "Mexico_City",
        "America/Mexico_City",
        "Ciudad de México",
        "Coyoacán",
        "+525511110005",
        -6,
        -6,
    ),
    ZoneDebtor(
        "Cancun", "America/Cancun", "Quintana Roo", "Benito Juárez", "+529981110006", -5, -5
    ),
    ZoneDebtor("Merida", "America/Merida", "Yucatán", "Mérida", "+529991110007", -6, -6),
    ZoneDebtor(
        "Monterrey", "America/Monterrey", "Nuevo León", "Monterrey", "+528111110008", -6, -6
    ),
    ZoneDebtor("Chihuahua", "America/Chihuahua", "Chihuahua", "Chihuahua", "+526141110009", -6, -6),
    ZoneDebtor("Hermosillo", "America/Hermosillo", "Sonora", "Hermosillo", "+526621110010", -7, -7),
    ZoneDebtor("Mazatlan", "America/Mazatlan", "Sinaloa", "Mazatlán", "+526691110011", -7, -7),
    ZoneDebtor(
        "Bahia_Banderas",
        "America/Bahia_Banderas",
        "Nayarit",
        "Bahía de Banderas",
        "+523291110012",
        -6,
        -6,
    ),
)
BY_KEY = {z.key: z for z in ZONE_DEBTORS}
TIJUANA, MONTERREY, CDMX = BY_KEY["Tijuana"], BY_KEY["Monterrey"], BY_KEY["Mexico_City"]

# The day before and the day after each US DST change (2nd Sunday of March, 1st of November);
# True: summer time on the border.
DST_DAYS = (
    (date(2026, 3, 7), False),
    (date(2026, 3, 9), True),
    (date(2026, 10, 31), True),
    (date(2026, 11, 2), False),
    (date(2027, 3, 13), False),
    (date(2027, 3, 15), True),
    (date(2027, 11, 6), True),
    (date(2027, 11, 8), False),
)
EDGES = ((time(6, 59), False), (time(7, 0), True), (time(21, 59), True), (time(22, 0), False))

# A quiet week with standard time everywhere, for the cap tests (local Wednesday 2026-12-16).
CAP_DAY = date(2026, 12, 16)


def at_local(debtor: ZoneDebtor, day: date, clock_time: time, summer: bool = False) -> datetime:
    """The UTC instant of a local wall-clock time, from the hand-written offsets."""
    offset = debtor.summer if summer else debtor.standard
    return datetime.combine(day, clock_time, tzinfo=UTC) - timedelta(hours=offset)


def clock_at(debtor: ZoneDebtor, day: date, clock_time: time, summer: bool = False) -> FixedClock:
    return FixedClock(at_local(debtor, day, clock_time, summer))


# --- the database ----------------------------------------------------------------------------


def add_debtor(
    session: Session,
    phone: str,
    state: str,
    municipality: str,
    *,
    creditor_id: int,
    consent: bool = True,
    time_zone: str = "America/Mexico_City",
) -> None:
    """A debtor with one active debt and, unless told otherwise, WhatsApp consent granted."""
    session.add(
        Debtor(
            phone=phone,
            full_name=f"Deudor {phone[-4:]}",
            date_of_birth=BIRTH_DATE,
            state=state,
            municipality=municipality,
            time_zone=time_zone,
            discount_requests=0,
        )
    )
    session.flush()
    session.add(
        Debt(
            debtor_phone=phone,
            creditor_id=creditor_id,
            product="Tarjeta de crédito",
            contract_number=f"TC-{phone[3:]}",
            opened_on=date(2024, 1, 15),
            original_amount=Decimal("10000.00"),
            current_balance=Decimal("8450.00"),
            days_past_due=30,
            balance_as_of=date(2026, 1, 1),
            status="active",
        )
    )
    if consent:
        session.add(
            Consent(
                debtor_phone=phone,
                channel="whatsapp",
                status="granted",
                source="contrato 2025-01",
                recorded_at=SEEDED_AT,
            )
        )
    session.flush()


def add_creditor(session: Session) -> int:
    creditor = Creditor(
        code="banco_demo",
        name="Banco Demo",
        legal_name="Banco Demo, S.A., Institución de Banca Múltiple",
        clabe="002180000000000001",
        bank="Banco Demo",
        convenience_store_reference_prefix="BD",
        customer_service_phone="8001234567",
    )
    session.add(creditor)
    session.flush()
    return int(creditor.id)


def creditor_id(session: Session) -> int:
    return int(session.execute(select(Creditor.id)).scalar_one())


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sessionmaker]:
    path: Path = tmp_path_factory.mktemp("compliance") / "compliance.db"
    engine = db.make_engine(sqlite_url(path))
    db.upgrade(engine)
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        creditor = add_creditor(session)
        for z in ZONE_DEBTORS:
            add_debtor(
                session, z.phone, z.state, z.municipality, creditor_id=creditor, time_zone=z.zone
            )
    yield factory
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker) -> Iterator[Session]:
    """A session whose work is rolled back after the test."""
    s = sessions()
    try:
        yield s
    finally:
        s.rollback()
        s.close()


def audit_rows(session: Session, action: str | None = None) -> list[AuditLog]:
    query = select(AuditLog).order_by(AuditLog.id)
    if action:
        query = query.where(AuditLog.action == action)
    return list(session.execute(query).scalars().all())


def audit_count(session: Session) -> int:
    return int(session.execute(select(func.count()).select_from(AuditLog)).scalar_one())


def check(decision: Decision, rule: str) -> dict[str, Any]:
    found = [c for c in decision.as_dict()["checks"] if c["rule"] == rule]
    assert len(found) == 1, decision.as_dict()["checks"]
    return dict(found[0])


def assert_allowed(decision: Decision, rule: str = "all_rules_met") -> None:
    assert decision.allowed, decision.as_dict()
    assert decision.rule == rule and decision.blocked_by == []


def assert_blocked(decision: Decision, rule: str) -> None:
    assert not decision.allowed, decision.as_dict()
    assert decision.rule == rule, decision.as_dict()
    assert decision.blocked_by[0] == rule
    assert decision.reason == check(decision, rule)["reason"]


# --- 1. the contact window around every DST change, in every zone ----------------------------


def _window_cases() -> list[Any]:
    cases = []
    for z in ZONE_DEBTORS:
        for day, summer in DST_DAYS:
            for clock_time, allowed in EDGES:
                cases.append(
                    pytest.param(
                        z,
                        day,
                        summer,
                        clock_time,
                        allowed,
                        id=f"{z.key}-{day}-{clock_time:%H%M}-{'in' if allowed else 'out'}",
                    )
                )
    return cases


@pytest.mark.parametrize(("debtor", "day", "summer", "clock_time", "allowed"), _window_cases())
def test_contact_window_edges_around_dst(
    session: Session, debtor: ZoneDebtor, day: date, summer: bool, clock_time: time, allowed: bool
) -> None:
    offset = debtor.summer if summer else debtor.standard
    instant = at_local(debtor, day, clock_time, summer)
    clock = FixedClock(instant)

    decision = decide_contact(session, debtor.phone, SETTINGS, clock)

    assert decision.at == instant
    assert decision.time_zone == debtor.zone and decision.zone_source == "address"
    local = decision.local_time
    assert local.replace(tzinfo=None) == datetime.combine(day, clock_time)
    assert local.utcoffset() == timedelta(hours=offset)
    sign = "-" if offset < 0 else "+"
    assert decision.as_dict()["local_time"] == (
        f"{day.isoformat()}T{clock_time:%H:%M}:00{sign}{abs(offset):02d}:00"
    )
    assert f"Son las {clock_time:%H:%M}" in check(decision, "contact_window")["reason"]
    if allowed:
        assert_allowed(decision)
    else:
        assert_blocked(decision, "contact_window")
        assert decision.blocked_by == ["contact_window"]
    assert conversation_flags(session, debtor.phone, SETTINGS, clock, "whatsapp").en_horario is (
        allowed
    )


def test_one_instant_gets_a_different_answer_per_zone(session: Session) -> None:
    """One instant, twelve answers: 13:30 UTC on 2026-03-09 is 06:30 in Tijuana and Hermosillo
    but 07:30 in Ciudad Juárez and later further east."""
    clock = FixedClock(datetime(2026, 3, 9, 13, 30, tzinfo=UTC))
    allowed = {
        z.key: decide_contact(session, z.phone, SETTINGS, clock).allowed for z in ZONE_DEBTORS
    }
    assert allowed == {
        "Tijuana": False,  # 06:30 PDT
        "Ciudad_Juarez": True,  # 07:30 MDT
        "Ojinaga": True,  # 08:30 CDT
        "Matamoros": True,  # 08:30 CDT
        "Mexico_City": True,  # 07:30
        "Cancun": True,  # 08:30
        "Merida": True,  # 07:30
        "Monterrey": True,  # 07:30
        "Chihuahua": True,  # 07:30
        "Hermosillo": False,  # 06:30
        "Mazatlan": False,  # 06:30
        "Bahia_Banderas": True,  # 07:30
    }


@pytest.mark.parametrize(
    ("hours", "clock_time", "allowed"),
    [
        ("08:00-21:00", time(7, 30), False),
        ("08:00-21:00", time(8, 0), True),
        ("08:00-21:00", time(20, 59), True),
        ("08:00-21:00", time(21, 0), False),
    ],
    ids=["0730-before", "0800-opens", "2059-last-minute", "2100-closed"],
)
def test_narrower_configured_window(
    session: Session, hours: str, clock_time: time, allowed: bool
) -> None:
    narrow = load_settings({"COBRANZA_CONTACT_HOURS": hours})
    decision = decide_contact(
        session, MONTERREY.phone, narrow, clock_at(MONTERREY, CAP_DAY, clock_time)
    )
    assert decision.allowed is allowed
    assert check(decision, "contact_window")["inputs"]["window"] == ["08:00", "21:00"]


@pytest.mark.parametrize("hours", ["06:00-22:00", "07:00-23:00", "22:00-07:00"])
def test_window_may_not_be_widened_or_inverted(hours: str) -> None:
    with pytest.raises(ConfigError, match="COBRANZA_CONTACT_HOURS"):
        load_settings({"COBRANZA_CONTACT_HOURS": hours})


def test_in_contact_window_is_half_open() -> None:
    hours = SETTINGS.contact_hours
    tz = ZoneInfo("America/Mexico_City")
    assert not in_contact_window(datetime(2026, 5, 1, 6, 59, 59, 999999, tzinfo=tz), hours)
    assert in_contact_window(datetime(2026, 5, 1, 7, 0, tzinfo=tz), hours)
    assert in_contact_window(datetime(2026, 5, 1, 21, 59, 59, 999999, tzinfo=tz), hours)
    assert not in_contact_window(datetime(2026, 5, 1, 22, 0, tzinfo=tz), hours)


# --- 2. zone resolution: address, then area code, then the default ---------------------------


@pytest.mark.parametrize("debtor", ZONE_DEBTORS, ids=[z.key for z in ZONE_DEBTORS])
def test_every_zone_resolves_from_the_address(session: Session, debtor: ZoneDebtor) -> None:
    row = session.get(Debtor, debtor.phone)
    resolution = debtor_zone(debtor.phone, row, SETTINGS.default_time_zone)
    assert (resolution.zone, resolution.source) == (debtor.zone, "address")


def test_address_wins_over_area_code(session: Session) -> None:
    # A Tijuana number (lada 664) of someone who lives in Coyoacán.
    phone = "+526642220001"
    add_debtor(session, phone, "Ciudad de México", "Coyoacán", creditor_id=creditor_id(session))
    # 06:30 in Tijuana, 08:30 in Mexico City (2026-12-16, standard time).
    clock = clock_at(CDMX, CAP_DAY, time(8, 30))
    decision = decide_contact(session, phone, SETTINGS, clock)
    assert (decision.time_zone, decision.zone_source) == ("America/Mexico_City", "address")
    assert_allowed(decision)


def test_area_code_when_the_address_is_not_recognised(session: Session) -> None:
    phone = "+526642220002"
    add_debtor(session, phone, "Atlántida", "Poseidonia", creditor_id=creditor_id(session))
    clock = clock_at(CDMX, CAP_DAY, time(8, 30))  # 06:30 in Tijuana
    decision = decide_contact(session, phone, SETTINGS, clock)
    assert (decision.time_zone, decision.zone_source) == ("America/Tijuana", "area_code")
    assert decision.local_time.replace(tzinfo=None) == datetime.combine(CAP_DAY, time(6, 30))
    assert_blocked(decision, "contact_window")
    later = decide_contact(session, phone, SETTINGS, clock_at(TIJUANA, CAP_DAY, time(7, 0)))
    assert_allowed(later)


def test_default_zone_when_neither_address_nor_area_code_is_known(session: Session) -> None:
    phone = "+525522220003"  # no usable address, and lada 55 is not in the area-code table
    add_debtor(session, phone, "", "", creditor_id=creditor_id(session))
    decision = decide_contact(session, phone, SETTINGS, clock_at(CDMX, CAP_DAY, time(7, 0)))
    assert (decision.time_zone, decision.zone_source) == ("America/Mexico_City", "default")
    assert_allowed(decision)
    cancun_default = load_settings({"COBRANZA_DEFAULT_TIME_ZONE": "America/Cancun"})
    # 07:00 in Mexico City is 08:00 in Cancún; 06:30 in Mexico City is 07:30 there.
    other = decide_contact(session, phone, cancun_default, clock_at(CDMX, CAP_DAY, time(6, 30)))
    assert (other.time_zone, other.zone_source) == ("America/Cancun", "default")
    assert other.local_time.replace(tzinfo=None) == datetime.combine(CAP_DAY, time(7, 30))
    assert_allowed(other)


def test_recognised_state_unknown_municipality_takes_the_state_zone(session: Session) -> None:
    phone = "+526142220004"
    add_debtor(session, phone, "Chih.", "Cuauhtémoc", creditor_id=creditor_id(session))
    decision = decide_contact(session, phone, SETTINGS, clock_at(CDMX, CAP_DAY, time(12, 0)))
    assert (decision.time_zone, decision.zone_source) == ("America/Chihuahua", "address")


# --- 3. consent and opt-out ------------------------------------------------------------------

T0 = at_local(MONTERREY, CAP_DAY, time(10, 0))  # 10:00 in Monterrey


def add_consent(session: Session, phone: str, channel: str, status: str, at: datetime) -> None:
    session.add(
        Consent(debtor_phone=phone, channel=channel, status=status, source="prueba", recorded_at=at)
    )
    session.flush()


def test_no_consent_record_blocks(session: Session) -> None:
    phone = "+528122220005"
    add_debtor(
        session, phone, "Nuevo León", "Monterrey", creditor_id=creditor_id(session), consent=False
    )
    decision = decide_contact(session, phone, SETTINGS, FixedClock(T0))
    assert_blocked(decision, "consent")
    assert decision.blocked_by == ["consent"]
    assert "whatsapp" in decision.reason
    assert consent_state(session, phone, "whatsapp")[0] == NONE


def test_granted_consent_allows(session: Session) -> None:
    decision = decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0))
    assert_allowed(decision)
    assert check(decision, "consent")["inputs"]["recorded_at"] == SEEDED_AT.isoformat()
    assert consent_state(session, MONTERREY.phone, "whatsapp")[0] == GRANTED


def test_revoked_on_whatsapp_blocks_as_opt_out(session: Session) -> None:
    add_consent(session, MONTERREY.phone, "whatsapp", "revoked", T0 - timedelta(days=1))
    decision = decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0))
    assert_blocked(decision, "opt_out")
    assert decision.blocked_by == ["opt_out", "consent"]


@pytest.mark.parametrize("channel", ["sms", "voice", "email", "webchat"])
def test_revocation_on_another_channel_after_the_grant_blocks_whatsapp(
    session: Session, channel: str
) -> None:
    add_consent(session, MONTERREY.phone, channel, "revoked", T0 - timedelta(days=1))
    decision = decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0))
    assert_blocked(decision, "opt_out")
    assert check(decision, "opt_out")["inputs"]["channel"] == channel
    assert consent_state(session, MONTERREY.phone, "whatsapp")[0] == REVOKED


def test_revocation_on_another_channel_before_the_grant_does_not_block(session: Session) -> None:
    add_consent(session, MONTERREY.phone, "sms", "revoked", SEEDED_AT - timedelta(days=30))
    assert_allowed(decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0)))


def test_granted_again_after_a_revocation_allows(session: Session) -> None:
    revoke_consent(session, MONTERREY.phone, "palabra BAJA", FixedClock(T0 - timedelta(days=3)))
    assert_blocked(decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0)), "opt_out")
    grant_consent(
        session,
        MONTERREY.phone,
        "whatsapp",
        "conversacion whatsapp",
        NOTICE,
        FixedClock(T0 + timedelta(minutes=1)),
    )
    later = FixedClock(T0 + timedelta(minutes=2))
    assert_allowed(decide_contact(session, MONTERREY.phone, SETTINGS, later))


def test_revoke_consent_stops_contact_at_once(session: Session) -> None:
    clock = FixedClock(T0)
    assert_allowed(decide_contact(session, MONTERREY.phone, SETTINGS, clock))
    revoke_consent(session, MONTERREY.phone, "palabra BAJA", clock)
    decision = decide_contact(session, MONTERREY.phone, SETTINGS, clock)
    assert_blocked(decision, "opt_out")
    for channel in ("whatsapp", "sms", "voice", "email", "webchat"):
        assert consent_state(session, MONTERREY.phone, channel)[0] == REVOKED
        assert not decide_contact(
            session, MONTERREY.phone, SETTINGS, clock, channel=channel
        ).allowed


def test_revocation_elsewhere_is_not_undone_by_regranting_only_that_channel(
    session: Session,
) -> None:
    """WhatsApp granted; the debtor opts out by SMS, then re-grants SMS only. The opt-out
    happened after the WhatsApp grant and WhatsApp was never granted again: no WhatsApp."""
    add_consent(session, MONTERREY.phone, "sms", "revoked", T0 - timedelta(days=2))
    add_consent(session, MONTERREY.phone, "sms", "granted", T0 - timedelta(days=1))
    decision = decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0))
    assert_blocked(decision, "opt_out")


def test_regranting_whatsapp_after_an_opt_out_elsewhere_allows(session: Session) -> None:
    add_consent(session, MONTERREY.phone, "sms", "revoked", T0 - timedelta(days=2))
    add_consent(session, MONTERREY.phone, "whatsapp", "granted", T0 - timedelta(days=1))
    assert_allowed(decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0)))


# --- 4. third party / wrong number -----------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "for_debtor"),
    [("third_party", True), ("wrong_number", True), ("wrong_number", False)],
    ids=["third-party-for-debtor", "wrong-number-for-debtor", "wrong-number-for-anyone"],
)
def test_flagged_number_is_never_contacted_again(
    session: Session, reason: str, for_debtor: bool
) -> None:
    phone = MONTERREY.phone
    clock = FixedClock(T0)
    assert_allowed(decide_contact(session, phone, SETTINGS, clock))
    block_number(session, phone, phone if for_debtor else None, reason, "conversacion", clock)
    for later in (T0, T0 + timedelta(days=1), T0 + timedelta(days=30), T0 + timedelta(days=400)):
        for initiated_by in ("bot", "campaign:recordatorio", "agent:ana"):
            decision = decide_contact(
                session, phone, SETTINGS, FixedClock(later), initiated_by=initiated_by
            )
            assert_blocked(decision, "third_party")
            assert check(decision, "third_party")["inputs"]["reason"] == reason
    flags = conversation_flags(session, phone, SETTINGS, clock, "whatsapp")
    assert flags.contacto_bloqueado is True
    disclosure = decide_disclosure(
        session, phone, verified(session, phone, clock), SETTINGS, clock, channel="whatsapp"
    )
    assert_blocked(disclosure, "third_party")


# --- 5. caps, disputes, hand-offs ------------------------------------------------------------


@pytest.mark.parametrize("debtor", ZONE_DEBTORS, ids=[z.key for z in ZONE_DEBTORS])
def test_daily_cap_counts_the_debtors_local_calendar_day(
    session: Session, debtor: ZoneDebtor
) -> None:
    """A contact late yesterday (local) — already 'today' in UTC — does not count; one this
    morning does."""
    yesterday_late = at_local(debtor, CAP_DAY - timedelta(days=1), time(21, 30))
    assert yesterday_late.date() == CAP_DAY  # the same UTC day as "now" below
    record_contact(session, debtor.phone, "whatsapp", "bot", yesterday_late)
    now = clock_at(debtor, CAP_DAY, time(7, 0))
    decision = decide_contact(session, debtor.phone, SETTINGS, now)
    assert_allowed(decision)
    assert check(decision, "daily_cap")["inputs"]["count"] == 0

    record_contact(session, debtor.phone, "whatsapp", "bot", at_local(debtor, CAP_DAY, time(0, 0)))
    evening = clock_at(debtor, CAP_DAY, time(21, 59))
    decision = decide_contact(session, debtor.phone, SETTINGS, evening)
    assert_blocked(decision, "daily_cap")
    assert check(decision, "daily_cap")["inputs"] == {
        "count": 1,
        "cap": 1,
        "since": f"{CAP_DAY.isoformat()}T00:00:00{debtor.standard:+03d}:00",
    }
    tomorrow = clock_at(debtor, CAP_DAY + timedelta(days=1), time(7, 0))
    assert_allowed(decide_contact(session, debtor.phone, SETTINGS, tomorrow))


def test_weekly_cap_is_three_in_a_rolling_seven_days(session: Session) -> None:
    phone = MONTERREY.phone
    now = clock_at(MONTERREY, CAP_DAY, time(10, 0))
    for days_ago in (6, 4, 2):
        record_contact(
            session,
            phone,
            "whatsapp",
            "bot",
            at_local(MONTERREY, CAP_DAY - timedelta(days=days_ago), time(10, 0)),
        )
    decision = decide_contact(session, phone, SETTINGS, now)
    assert_blocked(decision, "weekly_cap")
    assert decision.blocked_by == ["weekly_cap"]
    assert check(decision, "weekly_cap")["inputs"] == {"count": 3, "cap": 3}
    # The next day at 10:01 the oldest one is 7 days and 1 minute old: two left.
    later = clock_at(MONTERREY, CAP_DAY + timedelta(days=1), time(10, 1))
    assert_allowed(decide_contact(session, phone, SETTINGS, later))


def test_weekly_cap_ignores_contacts_older_than_seven_days(session: Session) -> None:
    phone = MONTERREY.phone
    now = at_local(MONTERREY, CAP_DAY, time(10, 0))
    for at in (
        now - timedelta(days=7, minutes=1),
        now - timedelta(days=4),
        now - timedelta(days=2),
    ):
        record_contact(session, phone, "whatsapp", "bot", at)
    decision = decide_contact(session, phone, SETTINGS, FixedClock(now))
    assert_allowed(decision)
    assert check(decision, "weekly_cap")["inputs"]["count"] == 2


def test_inbound_messages_do_not_count_towards_the_caps(session: Session) -> None:
    phone = MONTERREY.phone
    now = at_local(MONTERREY, CAP_DAY, time(10, 0))
    for minutes in (30, 60, 90, 120):
        session.add(
            ContactAttempt(
                debtor_phone=phone,
                channel="whatsapp",
                direction="inbound",
                initiated_by="debtor",
                attempted_at=now - timedelta(minutes=minutes),
                outcome="received",
            )
        )
    session.flush()
    assert_allowed(decide_contact(session, phone, SETTINGS, FixedClock(now)))


def test_caps_are_configurable(session: Session) -> None:
    custom = load_settings({"COBRANZA_CONTACT_CAP_DAY": "2", "COBRANZA_CONTACT_CAP_WEEK": "4"})
    assert (custom.daily_contact_cap, custom.weekly_contact_cap) == (2, 4)
    phone = MONTERREY.phone
    now = at_local(MONTERREY, CAP_DAY, time(18, 0))
    record_contact(session, phone, "whatsapp", "bot", now - timedelta(hours=8))
    assert not decide_contact(session, phone, SETTINGS, FixedClock(now)).allowed
    assert_allowed(decide_contact(session, phone, custom, FixedClock(now)))
    record_contact(session, phone, "whatsapp", "bot", now - timedelta(hours=4))
    assert_blocked(decide_contact(session, phone, custom, FixedClock(now)), "daily_cap")
    # Two today and two earlier; tomorrow the weekly cap of 4 is reached, the daily one is not.
    tomorrow = now + timedelta(days=1)
    record_contact(session, phone, "whatsapp", "bot", now - timedelta(days=3))
    record_contact(session, phone, "whatsapp", "bot", now - timedelta(days=2))
    decision = decide_contact(session, phone, custom, FixedClock(tomorrow))
    assert_blocked(decision, "weekly_cap")
    assert check(decision, "weekly_cap")["inputs"] == {"count": 4, "cap": 4}


def test_a_cap_of_zero_blocks_every_contact(session: Session) -> None:
    none_allowed = load_settings({"COBRANZA_CONTACT_CAP_DAY": "0"})
    decision = decide_contact(session, MONTERREY.phone, none_allowed, FixedClock(T0))
    assert_blocked(decision, "daily_cap")


@pytest.mark.parametrize("value", ["-1", "uno", "1.5"])
def test_malformed_caps_fail_fast(value: str) -> None:
    with pytest.raises(ConfigError, match="COBRANZA_CONTACT_CAP_DAY"):
        load_settings({"COBRANZA_CONTACT_CAP_DAY": value})


def dispute(session: Session, phone: str) -> None:
    debt = session.execute(select(Debt).where(Debt.debtor_phone == phone)).scalar_one()
    debt.status = "disputed"
    session.flush()


def open_ticket(session: Session, phone: str, status: str) -> None:
    session.add(
        HandoffTicket(
            debtor_phone=phone,
            sender_id=phone,
            channel="whatsapp",
            reason="solicitud_asesor",
            status=status,
            context={},
            created_at=T0 - timedelta(hours=1),
            claimed_by="agent:ana" if status != "open" else None,
        )
    )
    session.flush()


@pytest.mark.parametrize(
    ("case", "rule"),
    [("disputed", "dispute"), ("open", "open_handoff"), ("claimed", "open_handoff")],
)
@pytest.mark.parametrize("initiated_by", ["bot", "campaign:recordatorio"])
def test_no_automated_contact_during_a_dispute_or_an_open_handoff(
    session: Session, case: str, rule: str, initiated_by: str
) -> None:
    phone = MONTERREY.phone
    if case == "disputed":
        dispute(session, phone)
    else:
        open_ticket(session, phone, case)
    decision = decide_contact(session, phone, SETTINGS, FixedClock(T0), initiated_by=initiated_by)
    assert_blocked(decision, rule)
    assert decision.blocked_by == [rule]


def test_a_closed_ticket_does_not_block(session: Session) -> None:
    open_ticket(session, MONTERREY.phone, "closed")
    assert_allowed(decide_contact(session, MONTERREY.phone, SETTINGS, FixedClock(T0)))


@pytest.mark.parametrize("case", ["disputed", "open", "claimed"])
def test_an_agent_may_follow_up_a_dispute_or_handoff_within_the_other_rules(
    session: Session, case: str
) -> None:
    phone = MONTERREY.phone
    if case == "disputed":
        dispute(session, phone)
    else:
        open_ticket(session, phone, case)
    agent = "agent:ana"
    decision = decide_contact(session, phone, SETTINGS, FixedClock(T0), initiated_by=agent)
    assert_allowed(decision)
    assert {c.rule for c in decision.checks}.isdisjoint({"dispute", "open_handoff"})
    assert audit_rows(session, CONTACT)[-1].actor == "agent:ana"
    # ...but not outside the window,
    late = clock_at(MONTERREY, CAP_DAY, time(22, 30))
    assert_blocked(
        decide_contact(session, phone, SETTINGS, late, initiated_by=agent), "contact_window"
    )
    # ...nor over the daily cap,
    record_contact(session, phone, "whatsapp", "agent:ana", T0 - timedelta(hours=1))
    assert_blocked(
        decide_contact(session, phone, SETTINGS, FixedClock(T0), initiated_by=agent), "daily_cap"
    )
    # ...nor after an opt-out.
    revoke_consent(session, phone, "palabra BAJA", FixedClock(T0))
    assert_blocked(
        decide_contact(session, phone, SETTINGS, FixedClock(T0), initiated_by=agent), "opt_out"
    )


# --- 6. replies ------------------------------------------------------------------------------


def test_reply_within_the_window_is_allowed_late_and_without_consent(session: Session) -> None:
    phone = "+528122220006"
    add_debtor(
        session, phone, "Nuevo León", "Monterrey", creditor_id=creditor_id(session), consent=False
    )
    now = at_local(MONTERREY, CAP_DAY, time(23, 30))
    record_contact(session, phone, "whatsapp", "bot", now - timedelta(hours=2))  # caps don't apply
    for minutes in (0, 10, 60):
        decision = decide_contact(
            session, phone, SETTINGS, FixedClock(now), reply_to=now - timedelta(minutes=minutes)
        )
        assert_allowed(decision, rule="reply")
        assert [c.rule for c in decision.checks] == ["reply"]
        assert f"hace {minutes} min" in decision.reason
        assert decision.local_time.replace(tzinfo=None) == datetime.combine(CAP_DAY, time(23, 30))


def test_reply_older_than_the_window_is_a_new_contact(session: Session) -> None:
    phone = "+528122220007"
    add_debtor(
        session, phone, "Nuevo León", "Monterrey", creditor_id=creditor_id(session), consent=False
    )
    now = at_local(MONTERREY, CAP_DAY, time(23, 30))
    decision = decide_contact(
        session, phone, SETTINGS, FixedClock(now), reply_to=now - timedelta(minutes=61)
    )
    assert_blocked(decision, "contact_window")
    assert decision.blocked_by == ["contact_window", "consent"]
    assert "reply" not in {c.rule for c in decision.checks}
    # A "reply" to a message from the future is not a reply either.
    future = decide_contact(
        session, phone, SETTINGS, FixedClock(now), reply_to=now + timedelta(minutes=5)
    )
    assert_blocked(future, "contact_window")


def test_reply_window_is_configurable(session: Session) -> None:
    short = load_settings({"COBRANZA_REPLY_WINDOW_MINUTES": "15"})
    assert short.reply_window == timedelta(minutes=15)
    now = at_local(MONTERREY, CAP_DAY, time(23, 30))
    within = decide_contact(
        session, MONTERREY.phone, short, FixedClock(now), reply_to=now - timedelta(minutes=15)
    )
    assert_allowed(within, rule="reply")
    outside = decide_contact(
        session, MONTERREY.phone, short, FixedClock(now), reply_to=now - timedelta(minutes=20)
    )
    assert_blocked(outside, "contact_window")


# --- 7. unknown numbers ----------------------------------------------------------------------


@pytest.mark.parametrize("reply", [False, True], ids=["new-contact", "reply"])
def test_unknown_number_is_never_contacted(session: Session, reply: bool) -> None:
    phone = "+526649999999"
    reply_to = T0 - timedelta(minutes=5) if reply else None
    decision = decide_contact(session, phone, SETTINGS, FixedClock(T0), reply_to=reply_to)
    assert_blocked(decision, "debtor_known")
    assert decision.blocked_by == ["debtor_known"]
    assert (decision.time_zone, decision.zone_source) == ("America/Tijuana", "area_code")
    row = audit_rows(session, CONTACT)[-1]
    assert row.debtor_phone == phone and row.details["rule"] == "debtor_known"


# --- 8. the disclosure gate ------------------------------------------------------------------

UNVERIFIED = "conversacion-sin-verificar"


def verified(session: Session, phone: str, clock: FixedClock) -> str:
    """A conversation whose date of birth matched just now (the server-side record)."""
    conversation = f"verificada-{phone}-{clock.now().timestamp()}"
    verifications.record(
        session, conversation, "whatsapp", phone, clock.now(), SETTINGS.verification_ttl
    )
    return conversation


def answer(
    session: Session, phone: str, claimed: date | None, clock: FixedClock
) -> VerificationResult:
    """A date-of-birth answer on the debtor's own WhatsApp."""
    return verify_birth_date(
        session,
        phone,
        claimed,
        clock,
        conversation_id=phone.replace("+52", "521"),
        channel="whatsapp",
        ttl=SETTINGS.verification_ttl,
    )


def test_disclosure_to_an_unknown_number_is_denied(session: Session) -> None:
    decision = decide_disclosure(
        session, "+525599999999", "5215599999999", SETTINGS, FixedClock(T0), channel="whatsapp"
    )
    assert_blocked(decision, "debtor_known")


def test_disclosure_needs_verification(session: Session) -> None:
    clock = FixedClock(T0)
    denied = decide_disclosure(
        session, MONTERREY.phone, UNVERIFIED, SETTINGS, clock, channel="whatsapp"
    )
    assert_blocked(denied, "identity")
    assert denied.blocked_by == ["identity"]
    conversation = verified(session, MONTERREY.phone, clock)
    allowed = decide_disclosure(
        session, MONTERREY.phone, conversation, SETTINGS, clock, channel="whatsapp"
    )
    assert_allowed(allowed)
    assert (allowed.time_zone, allowed.zone_source) == ("America/Monterrey", "address")


def test_an_allowed_disclosure_keeps_the_verification_alive(session: Session) -> None:
    """Each allowed decision moves the end to a full ``verification_ttl`` away (never back): a
    debtor still talking is not asked again mid-conversation; one who stops talking is."""
    ttl = SETTINGS.verification_ttl
    conversation = verified(session, MONTERREY.phone, FixedClock(T0))

    def decide(at: datetime) -> Decision:
        clock = FixedClock(at)
        return decide_disclosure(
            session, MONTERREY.phone, conversation, SETTINGS, clock, channel="whatsapp"
        )

    def expires() -> datetime:
        row = verifications.current(session, conversation, T0)
        assert row is not None
        return row.expires_at

    late = T0 + ttl - timedelta(minutes=1)
    assert_allowed(decide(late))
    assert expires() == late + ttl  # extended from the last message, not from the first
    assert_allowed(decide(T0 + ttl + timedelta(minutes=5)))  # past the first end: still alive
    assert_allowed(decide(late - timedelta(minutes=10)))  # a late-arriving turn (replayed)
    assert expires() == late + ttl + timedelta(minutes=6)  # the end never moves back
    assert_blocked(decide(late + 2 * ttl + timedelta(minutes=7)), "identity")


def test_disclosure_denied_while_identity_is_locked(session: Session) -> None:
    phone = MONTERREY.phone
    for minutes in (0, 1, 2):
        clock = FixedClock(T0 + timedelta(minutes=minutes))
        result = answer(session, phone, date(1999, 9, 9), clock)
        assert not result.verified
    assert result.locked
    clock = FixedClock(T0 + timedelta(minutes=3))
    decision = decide_disclosure(
        session, phone, verified(session, phone, clock), SETTINGS, clock, channel="whatsapp"
    )
    assert_blocked(decision, "identity_lock")
    assert decision.blocked_by == ["identity_lock"]
    # Even the right date does not unlock it.
    assert not answer(session, phone, BIRTH_DATE, clock).verified
    # 24 hours after the third failure the lock is gone.
    after = FixedClock(T0 + timedelta(hours=24, minutes=3))
    conversation = verified(session, phone, after)
    assert_allowed(
        decide_disclosure(session, phone, conversation, SETTINGS, after, channel="whatsapp")
    )


def test_disclosure_two_failures_do_not_lock(session: Session) -> None:
    phone = MONTERREY.phone
    for minutes in (0, 1):
        answer(session, phone, None, FixedClock(T0 + timedelta(minutes=minutes)))
    clock = FixedClock(T0 + timedelta(minutes=2))
    conversation = verified(session, phone, clock)
    assert_allowed(
        decide_disclosure(session, phone, conversation, SETTINGS, clock, channel="whatsapp")
    )


def test_disclosure_without_a_phone_is_denied_and_not_audited(session: Session) -> None:
    before = audit_count(session)
    decision = decide_disclosure(
        session, None, "web-x", SETTINGS, FixedClock(T0), channel="webchat"
    )
    assert not decision.allowed
    assert decision.rule == "debtor_known"
    assert decision.time_zone == SETTINGS.default_time_zone and decision.zone_source == "default"
    assert audit_count(session) == before


# --- 9. the audit trail ----------------------------------------------------------------------


def _scenario(session: Session, name: str) -> tuple[Decision, str, str, str]:
    """Run one decision; return it with the expected action, phone and actor."""
    clock = FixedClock(T0)
    mty = MONTERREY.phone
    if name == "contact-allowed":
        return decide_contact(session, mty, SETTINGS, clock), CONTACT, mty, "bot"
    if name == "contact-window":
        late = clock_at(MONTERREY, CAP_DAY, time(22, 0))
        d = decide_contact(session, mty, SETTINGS, late, initiated_by="campaign:x")
        return d, CONTACT, mty, "campaign:x"
    if name == "contact-opt-out":
        revoke_consent(session, mty, "palabra BAJA", clock)
        d = decide_contact(session, mty, SETTINGS, clock, actor="cli")
        return d, CONTACT, mty, "cli"
    if name == "contact-unknown":
        unknown = "+525599999999"
        return decide_contact(session, unknown, SETTINGS, clock), CONTACT, unknown, "bot"
    if name == "contact-reply":
        d = decide_contact(session, mty, SETTINGS, clock, reply_to=T0 - timedelta(minutes=1))
        return d, CONTACT, mty, "bot"
    if name == "contact-agent-cap":
        record_contact(session, mty, "whatsapp", "bot", T0 - timedelta(hours=1))
        d = decide_contact(session, mty, SETTINGS, clock, initiated_by="agent:ana")
        return d, CONTACT, mty, "agent:ana"
    if name == "disclosure-allowed":
        d = decide_disclosure(
            session, mty, verified(session, mty, clock), SETTINGS, clock, channel="whatsapp"
        )
        return d, DISCLOSURE, mty, "bot"
    if name == "disclosure-identity":
        d = decide_disclosure(
            session, mty, UNVERIFIED, SETTINGS, clock, channel="webchat", actor="agent:ana"
        )
        return d, DISCLOSURE, mty, "agent:ana"
    if name == "disclosure-unknown":
        unknown = "+525599999999"
        d = decide_disclosure(
            session, unknown, "5215599999999", SETTINGS, clock, channel="whatsapp"
        )
        return d, DISCLOSURE, unknown, "bot"
    raise AssertionError(name)


@pytest.mark.parametrize(
    "name",
    [
        "contact-allowed",
        "contact-window",
        "contact-opt-out",
        "contact-unknown",
        "contact-reply",
        "contact-agent-cap",
        "disclosure-allowed",
        "disclosure-identity",
        "disclosure-unknown",
    ],
)
def test_every_decision_writes_one_audit_row(session: Session, name: str) -> None:
    session.flush()
    before = {row.id for row in audit_rows(session)}
    decision, action, phone, actor = _scenario(session, name)
    session.expire_all()  # read the rows back from the database, JSON and all
    new = [row for row in audit_rows(session) if row.id not in before]
    decisions = [row for row in new if row.action in (CONTACT, DISCLOSURE)]
    assert len(decisions) == 1, [(r.action, r.details) for r in new]
    row = decisions[0]
    assert row.action == action and row.debtor_phone == phone and row.actor == actor
    assert row.occurred_at == decision.at
    details = row.details
    expected = decision.as_dict()
    del expected["phone"]
    assert details == expected
    assert details["allowed"] is decision.allowed and details["rule"] == decision.rule
    assert details["reason"] == decision.reason and details["reason"]
    assert details["time_zone"] == decision.time_zone
    assert details["local_time"] == decision.local_time.isoformat()
    assert details["checks"], details
    for c in details["checks"]:
        assert set(c) == {"rule", "passed", "reason", "inputs"}
        assert isinstance(c["inputs"], dict)
    if any(c["rule"] == "contact_window" for c in details["checks"]):
        window = check(decision, "contact_window")["inputs"]
        assert window["window"] == ["07:00", "22:00"]
        assert window["local_time"] == details["local_time"]
    if not decision.allowed:
        assert details["blocked_by"] == decision.blocked_by != []


def test_conversation_flags_read_without_auditing(session: Session) -> None:
    before = audit_count(session)
    flags = conversation_flags(session, TIJUANA.phone, SETTINGS, FixedClock(T0), "whatsapp")
    assert flags.as_slots() == {
        "en_horario": True,
        "consentimiento": GRANTED,
        "contacto_bloqueado": False,
        "zona_horaria": "America/Tijuana",
    }
    none = conversation_flags(session, None, SETTINGS, FixedClock(T0), "webchat")
    assert (none.en_horario, none.consentimiento) == (False, NONE)
    assert audit_count(session) == before


# --- 10. property: nothing is ever allowed outside the window or without consent in force -----

# Any channel, with WhatsApp and SMS drawn more often so histories interleave on them.
CONSENT_CHANNELS = st.one_of(st.sampled_from(("whatsapp", "sms")), st.sampled_from(CHANNELS))
HOUR = timedelta(hours=1)


def consent_model(history: list[tuple[str, str]]) -> str:
    """Independent reading of a chronological consent history for WhatsApp: granted only when
    the latest WhatsApp record is a grant and no revocation on any channel came after it."""
    whatsapp = [i for i, (channel, _) in enumerate(history) if channel == "whatsapp"]
    last = whatsapp[-1] if whatsapp else None
    since = history[last:] if last is not None else history  # the WhatsApp record and after
    if any(status == "revoked" for _, status in since):
        return REVOKED
    return NONE if last is None else GRANTED


@settings(max_examples=200, deadline=None)
@given(
    debtor=st.sampled_from(ZONE_DEBTORS),
    instant=st.datetimes(
        min_value=datetime(2026, 1, 1),
        max_value=datetime(2028, 12, 31, 23, 59, 59),
        timezones=st.just(UTC),
    ),
    history=st.lists(
        st.tuples(
            CONSENT_CHANNELS,
            st.sampled_from(("granted", "revoked")),
            st.integers(min_value=1, max_value=60 * 24 * 400),  # minutes before the instant
        ),
        max_size=6,
        unique_by=lambda record: record[2],
    ),
    contacts=st.lists(st.integers(min_value=1, max_value=60 * 24 * 10), max_size=4),
)
# Opt-out by SMS after the WhatsApp grant, then SMS granted again (WhatsApp never re-granted).
@example(
    debtor=MONTERREY,
    instant=T0,
    history=[("whatsapp", "granted", 3000), ("sms", "revoked", 2000), ("sms", "granted", 1000)],
    contacts=[],
)
def test_property_never_outside_the_window_or_without_consent(
    sessions: sessionmaker,
    debtor: ZoneDebtor,
    instant: datetime,
    history: list[tuple[str, str, int]],
    contacts: list[int],
) -> None:
    session = sessions()
    try:
        phone = debtor.phone
        session.execute(delete(Consent).where(Consent.debtor_phone == phone))
        chronological = sorted(history, key=lambda record: -record[2])
        for channel, status, minutes in chronological:
            add_consent(session, phone, channel, status, instant - timedelta(minutes=minutes))
        contact_times = [instant - timedelta(minutes=m) for m in contacts]
        for at in contact_times:
            record_contact(session, phone, "whatsapp", "bot", at)

        decision = decide_contact(session, phone, SETTINGS, FixedClock(instant))

        local = instant.astimezone(ZoneInfo(debtor.zone))
        in_window = time(7, 0) <= local.time() < time(22, 0)
        expected_consent = consent_model([(c, s) for c, s, _ in chronological])
        blocked = set(decision.blocked_by)
        context = {"local": local.isoformat(), "history": chronological, "decision": blocked}

        assert decision.time_zone == debtor.zone
        assert decision.local_time.replace(tzinfo=None) == local.replace(tzinfo=None)
        if decision.allowed:
            assert in_window, context
            assert expected_consent == GRANTED, context
        if not in_window:
            assert not decision.allowed and "contact_window" in blocked, context
        assert ("contact_window" in blocked) is (not in_window), context
        if "opt_out" in blocked:  # a revocation newer than the WhatsApp record really exists
            assert expected_consent == REVOKED, context
        assert ("consent" in blocked) is (expected_consent != GRANTED), context

        today = sum(1 for at in contact_times if at.astimezone(local.tzinfo).date() == local.date())
        assert ("daily_cap" in blocked) is (today >= SETTINGS.daily_contact_cap), context
        # "7 days" in local wall-clock time may be an hour more or less across a DST change.
        surely_in_week = sum(1 for at in contact_times if at > instant - timedelta(days=7) + HOUR)
        maybe_in_week = sum(1 for at in contact_times if at >= instant - timedelta(days=7) - HOUR)
        if surely_in_week >= SETTINGS.weekly_contact_cap:
            assert "weekly_cap" in blocked, context
        if maybe_in_week < SETTINGS.weekly_contact_cap:
            assert "weekly_cap" not in blocked, context
        if not contact_times:
            assert decision.allowed is (in_window and expected_consent == GRANTED), context
    finally:
        session.rollback()
        session.close()


# --- the same engine on PostgreSQL -----------------------------------------------------------


def test_engine_on_postgresql(empty_postgres: Engine) -> None:
    """Timestamps with time zone, counts and the audit JSON on PostgreSQL: a window edge on each
    side of the 2026 spring change in Tijuana, the daily cap, an opt-out and the audit rows."""
    from cobranza.services.consent import revoke_consent

    db.upgrade(empty_postgres)
    factory = db.make_session_factory(empty_postgres)
    with db.session_scope(factory) as s:
        add_debtor(
            s,
            TIJUANA.phone,
            TIJUANA.state,
            TIJUANA.municipality,
            creditor_id=add_creditor(s),
            time_zone=TIJUANA.zone,
        )
    settings_ = SETTINGS
    with db.session_scope(factory) as s:
        for day, summer in DST_DAYS[:2]:
            for clock_time, inside in EDGES:
                decision = decide_contact(
                    s, TIJUANA.phone, settings_, clock_at(TIJUANA, day, clock_time, summer)
                )
                assert decision.allowed is inside, (day, clock_time)
        clock = clock_at(TIJUANA, CAP_DAY, time(10, 0))
        assert decide_contact(s, TIJUANA.phone, settings_, clock).allowed
        record_contact(s, TIJUANA.phone, "whatsapp", "bot", clock.now())
        assert_blocked(decide_contact(s, TIJUANA.phone, settings_, clock), "daily_cap")
        revoke_consent(s, TIJUANA.phone, "prueba", clock)
        assert "opt_out" in decide_contact(s, TIJUANA.phone, settings_, clock).blocked_by
    with db.session_scope(factory) as s:
        rows = s.execute(select(AuditLog).where(AuditLog.action == CONTACT)).scalars().all()
        assert len(rows) == 8 + 3
        assert rows[-1].details["blocked_by"] == ["opt_out", "consent", "daily_cap"]
