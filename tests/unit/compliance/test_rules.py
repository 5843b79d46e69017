"""The compliance rules without a database: frozen facts, settings and an instant in, a decision
out. The property tests state the legal guarantees independently of how the rules compute them
(the zones are written by hand, the caps, consent and lock are re-read from the raw facts) and
run them over random facts: never outside the contact window, never over the caps, never after a
revocation or on a flagged number, never while a case is paused, never disclosing without this
conversation's current verification of this number, never while verification is locked.

The database side (that the facts are gathered right) is tests/integration/compliance/test_compliance.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, time, timedelta, timezone
from itertools import takewhile
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from cobranza.compliance import rules
from cobranza.compliance.rules import (
    GRANTED,
    LOCK_HOURS,
    MAX_ATTEMPTS,
    NONE,
    REVOKED,
    Block,
    ConsentRecord,
    ContactFacts,
    DebtorFacts,
    DisclosureFacts,
    FlagFacts,
    IdentityAttempt,
    IdentityFacts,
    Verification,
)
from cobranza.config import LEGAL_CONTACT_HOURS, load_settings

UTC = timezone.utc
SETTINGS = load_settings({})
NOW = datetime(2026, 12, 16, 18, 0, tzinfo=UTC)  # noon in Mexico City, standard time
CHANNELS = ("whatsapp", "sms", "email", "voice")
EXAMPLES = 300

# (state, municipality, phone, zone): the zone written by hand, not asked of the resolver.
ADDRESSES = (
    ("Baja California", "Tijuana", "+526641110001", "America/Tijuana"),
    ("Chihuahua", "Juárez", "+526561110002", "America/Ciudad_Juarez"),
    ("Chihuahua", "Ojinaga", "+526261110003", "America/Ojinaga"),
    ("Tamaulipas", "Matamoros", "+528681110004", "America/Matamoros"),
    ("Ciudad de México", "Coyoacán", "+525511110005", "America/Mexico_City"),
    ("Quintana Roo", "Benito Juárez", "+529981110006", "America/Cancun"),
    ("Yucatán", "Mérida", "+529991110007", "America/Merida"),
    ("Nuevo León", "Monterrey", "+528111110008", "America/Monterrey"),
    ("Sonora", "Hermosillo", "+526621110010", "America/Hermosillo"),
    ("Sinaloa", "Mazatlán", "+526691110011", "America/Mazatlan"),
    ("Nayarit", "Bahía de Banderas", "+523291110012", "America/Bahia_Banderas"),
)
TIJUANA, CDMX = ADDRESSES[0], ADDRESSES[4]
ZONE_OF = {phone: zone for _, _, phone, zone in ADDRESSES}


def debtor_at(address: tuple[str, str, str, str]) -> DebtorFacts:
    state, municipality, phone, _ = address
    return DebtorFacts(phone, state, municipality)


def minutes(n: int) -> timedelta:
    return timedelta(minutes=n)


# --- strategies -----------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)
)
DAY = 24 * 60


@st.composite
def windows(draw: st.DrawFn) -> tuple[time, time]:
    """The legal window or any narrower one, to the minute (22:00 closes the day)."""
    opening = draw(st.integers(7 * 60, 22 * 60 - 1))
    closing = draw(st.integers(opening + 1, 22 * 60))
    return time(opening // 60, opening % 60), time(closing // 60, closing % 60)


@st.composite
def rule_settings(draw: st.DrawFn) -> Any:
    return replace(
        SETTINGS,
        contact_hours=draw(st.one_of(st.just(LEGAL_CONTACT_HOURS), windows())),
        daily_contact_cap=draw(st.sampled_from((1, 2, 1, 3, 0))),
        weekly_contact_cap=draw(st.sampled_from((3, 5, 3, 1, 0))),
        reply_window=minutes(draw(st.integers(0, 120))),
    )


@st.composite
def block_lists(draw: st.DrawFn, now: datetime) -> tuple[Block, ...]:
    ages = draw(st.lists(st.integers(0, 400 * DAY), max_size=2))
    reasons = st.sampled_from(("wrong_number", "third_party"))
    return tuple(Block(draw(reasons), "prueba", now - minutes(age)) for age in sorted(ages)[::-1])


@st.composite
def consent_histories(draw: st.DrawFn, now: datetime, channel: str) -> tuple[ConsentRecord, ...]:
    """Records on every channel (the decision's more often), grants more often than
    revocations, few distinct instants so that ties (broken by id) happen; most of the
    histories end with a grant on the decision's channel."""
    size = draw(st.integers(0, 5))
    ids = draw(st.permutations(range(1, size + 1)))
    records = [
        ConsentRecord(
            ids[i],
            draw(st.sampled_from((channel, channel, *CHANNELS))),
            draw(st.sampled_from(("granted", "granted", "revoked"))),
            "prueba",
            now - minutes(draw(st.integers(-2, 60)) * 600),
        )
        for i in range(size)
    ]
    if draw(st.integers(0, 3)) > 0:
        latest = max((r.recorded_at for r in records), default=now - timedelta(days=30))
        grant_at = latest + minutes(draw(st.integers(0, 600)))
        records.append(ConsentRecord(size + 1, channel, "granted", "prueba", grant_at))
    return tuple(sorted(records, key=lambda r: (r.recorded_at, r.id)))


@st.composite
def local_instants(draw: st.DrawFn, zone: str, hours: tuple[time, time]) -> datetime:
    """Any instant, two thirds of them inside the configured window in ``zone``."""
    day = draw(st.dates(date(2025, 1, 1), date(2029, 12, 31)))
    us = 1_000_000
    opening, closing = ((h.hour * 60 + h.minute) * 60 * us for h in hours)
    inside = st.integers(opening, closing - 1)
    of_day = draw(inside if draw(st.integers(0, 2)) else st.integers(0, DAY * 60 * us - 1))
    seconds, micro = divmod(of_day, us)
    clock = time(seconds // 3600, seconds // 60 % 60, seconds % 60, micro)
    return datetime.combine(day, clock, tzinfo=ZoneInfo(zone)).astimezone(UTC)


@st.composite
def contact_cases(draw: st.DrawFn, known: bool | None = True) -> dict[str, Any]:
    """Random facts, weighted so that every rule both passes and fails often enough and some
    decisions are allowed: the guarantees are about those."""
    address = draw(st.sampled_from(ADDRESSES))
    rule_settings_ = draw(rule_settings())
    now = draw(local_instants(address[3], rule_settings_.contact_hours))
    channel = draw(st.sampled_from(CHANNELS))
    is_known = draw(st.integers(0, 4)) > 0 if known is None else known
    # minutes before ``now`` (some after it): around today and the week's edge; Hypothesis
    # favours small integers, so the older ones count back from 11 days
    ages = st.one_of(
        st.integers(-120, 2 * DAY), st.integers(-DAY, 12 * DAY).map(lambda m: 11 * DAY - m)
    )
    outbound = draw(st.lists(ages, max_size=3))
    facts = ContactFacts(
        address[2],
        debtor_at(address) if is_known else None,
        blocks=draw(st.one_of(st.just(()), st.just(()), st.just(()), block_lists(now))),
        consents=draw(consent_histories(now, channel)),
        outbound=tuple(sorted(now - minutes(m) for m in outbound)),
        disputed_debts=draw(st.sampled_from(((), (), (), (), ("C-1",), ("C-1", "C-2")))),
        open_tickets=draw(st.sampled_from(((), (), (), (), (7,)))),
    )
    reply_to = draw(st.one_of(st.none(), st.integers(-30, 180).map(lambda m: now - minutes(m))))
    return {
        "facts": facts,
        "settings": rule_settings_,
        "now": now,
        "channel": channel,
        "initiated_by": draw(st.sampled_from(("bot", "campaign:recordatorio", "agent:ana"))),
        "reply_to": reply_to,
    }


def decide(case: dict[str, Any]) -> rules.Decision:
    return rules.contact_decision(
        case["facts"],
        case["settings"],
        case["now"],
        channel=case["channel"],
        initiated_by=case["initiated_by"],
        reply_to=case["reply_to"],
    )


def new_contact(decision: rules.Decision) -> bool:
    """Allowed as a new contact (not as a reply to the debtor)."""
    return decision.allowed and decision.rule != "reply"


def local_now(case: dict[str, Any]) -> datetime:
    now: datetime = case["now"]
    return now.astimezone(ZoneInfo(ZONE_OF[case["facts"].phone]))


def edge_case(clock: time, hours: tuple[time, time] = LEGAL_CONTACT_HOURS) -> dict[str, Any]:
    """A debtor in Tijuana with consent and no history, at a local wall-clock time."""
    tz = ZoneInfo(TIJUANA[3])
    now = datetime.combine(NOW.date(), clock, tzinfo=tz).astimezone(UTC)
    consent = ConsentRecord(1, "whatsapp", "granted", "contrato", now - timedelta(days=30))
    return {
        "facts": ContactFacts(TIJUANA[2], debtor_at(TIJUANA), consents=(consent,)),
        "settings": replace(SETTINGS, contact_hours=hours),
        "now": now,
        "channel": "whatsapp",
        "initiated_by": "bot",
        "reply_to": None,
    }


# --- contact: the legal guarantees ----------------------------------------------------------


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases())
@example(case=edge_case(time(6, 59, 59, 999999)))
@example(case=edge_case(time(22, 0)))
@example(case=edge_case(time(9, 59, 59), (time(10, 0), time(18, 0))))
@example(case=edge_case(time(18, 0), (time(10, 0), time(18, 0))))
def test_never_outside_the_contact_window(case: dict[str, Any]) -> None:
    decision = decide(case)
    local = local_now(case).time()
    opening, closing = case["settings"].contact_hours
    inside = opening <= local < closing and LEGAL_CONTACT_HOURS[0] <= local < LEGAL_CONTACT_HOURS[1]
    assert decision.time_zone == ZONE_OF[case["facts"].phone]
    if new_contact(decision):
        assert inside, (local, opening, closing)
    if decision.rule != "reply":
        assert ("contact_window" in decision.blocked_by) is not inside


def test_the_window_edges() -> None:
    assert decide(edge_case(time(7, 0))).allowed
    assert decide(edge_case(time(21, 59, 59, 999999))).allowed
    assert decide(edge_case(time(6, 59, 59, 999999))).rule == "contact_window"
    assert decide(edge_case(time(22, 0))).rule == "contact_window"


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases())
def test_never_over_the_daily_or_weekly_cap(case: dict[str, Any]) -> None:
    decision = decide(case)
    local = local_now(case)
    midnight = datetime.combine(local.date(), time(0), tzinfo=local.tzinfo)
    today = [at for at in case["facts"].outbound if at >= midnight]
    week = [at for at in case["facts"].outbound if at >= case["now"] - timedelta(hours=7 * 24)]
    over_day = len(today) >= case["settings"].daily_contact_cap
    over_week = len(week) >= case["settings"].weekly_contact_cap
    if new_contact(decision):
        assert not over_day and not over_week
    if decision.rule != "reply":
        assert ("daily_cap" in decision.blocked_by) is over_day
        assert ("weekly_cap" in decision.blocked_by) is over_week


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases())
@example(  # opted out by SMS after the WhatsApp grant; SMS granted again, WhatsApp never
    case={
        **edge_case(time(12, 0)),
        "facts": ContactFacts(
            TIJUANA[2],
            debtor_at(TIJUANA),
            consents=(
                ConsentRecord(1, "whatsapp", "granted", "contrato", NOW - timedelta(days=3)),
                ConsentRecord(2, "sms", "revoked", "BAJA", NOW - timedelta(days=2)),
                ConsentRecord(3, "sms", "granted", "contrato", NOW - timedelta(days=1)),
            ),
        ),
    }
)
def test_never_after_a_revocation_or_without_consent(case: dict[str, Any]) -> None:
    """A revocation on any channel stops contact until this very channel is granted again."""
    decision = decide(case)
    channel = case["channel"]
    order = [(r.recorded_at, r.id) for r in case["facts"].consents]
    assert order == sorted(order)
    if new_contact(decision):
        history = case["facts"].consents
        own = [r for r in history if r.channel == channel]
        assert own and own[-1].status == "granted"
        for revocation in (r for r in history if r.status == "revoked"):
            after = history[history.index(revocation) + 1 :]
            assert any(r.channel == channel and r.status == "granted" for r in after)


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases())
def test_never_a_flagged_number(case: dict[str, Any]) -> None:
    decision = decide(case)
    flagged = bool(case["facts"].blocks)
    if flagged:
        assert not new_contact(decision)
    if decision.rule != "reply":
        assert ("third_party" in decision.blocked_by) is flagged


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases())
def test_an_open_case_pauses_automated_contact(case: dict[str, Any]) -> None:
    """A dispute or an open hand-off stops bots and campaigns; an agent may follow up."""
    decision = decide(case)
    facts = case["facts"]
    automated = not case["initiated_by"].startswith("agent:")
    if automated and (facts.disputed_debts or facts.open_tickets):
        assert not new_contact(decision)
    if decision.rule != "reply":
        assert ("dispute" in decision.blocked_by) is (automated and bool(facts.disputed_debts))
        assert ("open_handoff" in decision.blocked_by) is (automated and bool(facts.open_tickets))


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases(known=None))
def test_a_reply_only_within_the_window_and_never_to_a_stranger(case: dict[str, Any]) -> None:
    """``reply`` lifts the window, consent and caps: only for a message the debtor sent within
    the reply window, never in the future, and never for a number that is no debtor's."""
    decision = decide(case)
    if any(c.rule == "reply" for c in decision.checks):
        waited = case["now"] - case["reply_to"]
        assert timedelta(0) <= waited <= case["settings"].reply_window
    if case["facts"].debtor is None:
        assert not decision.allowed and decision.rule == "debtor_known"


def test_every_reason_is_named_at_once() -> None:
    case = edge_case(time(23, 0))
    revoked = ConsentRecord(2, "sms", "revoked", "BAJA", case["now"] - timedelta(days=1))
    facts = replace(case["facts"], consents=(*case["facts"].consents, revoked))
    decision = decide({**case, "facts": facts})
    assert decision.blocked_by == ["contact_window", "opt_out", "consent"]
    assert decision.reason.startswith("Son las 23:00")


# --- consent, caps and zones: examples ------------------------------------------------------


def record(id_: int, channel: str, status: str, day: int) -> ConsentRecord:
    return ConsentRecord(id_, channel, status, "prueba", NOW - timedelta(days=10 - day))


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ((), NONE),
        ((record(1, "whatsapp", "granted", 1),), GRANTED),
        ((record(1, "whatsapp", "granted", 1), record(2, "sms", "revoked", 2)), REVOKED),
        ((record(1, "sms", "revoked", 1), record(2, "whatsapp", "granted", 2)), GRANTED),
        (
            (
                record(1, "whatsapp", "granted", 1),
                record(2, "sms", "revoked", 2),
                record(3, "sms", "granted", 3),
            ),
            REVOKED,
        ),
        # the same instant: the later record (higher id) wins
        ((record(2, "whatsapp", "granted", 1), record(1, "email", "revoked", 1)), GRANTED),
        ((record(1, "whatsapp", "granted", 1), record(2, "email", "revoked", 1)), REVOKED),
    ],
)
def test_consent_state(history: tuple[ConsentRecord, ...], expected: str) -> None:
    assert rules.consent_state(history, "whatsapp")[0] == expected
    assert rules.consent_state(reversed(history), "whatsapp")[0] == expected  # order-free


def test_the_daily_cap_counts_the_local_calendar_day() -> None:
    local = NOW.astimezone(ZoneInfo(CDMX[3]))  # 12:00 on the 16th in Mexico City
    yesterday_late = datetime(2026, 12, 16, 5, 59, tzinfo=UTC)  # 23:59 on the 15th there
    today_early = datetime(2026, 12, 16, 6, 0, tzinfo=UTC)  # 00:00 on the 16th there
    assert rules.daily_cap_check([yesterday_late], local, 1).passed
    assert not rules.daily_cap_check([today_early], local, 1).passed


def test_the_week_is_seven_times_24_real_hours_across_a_dst_change() -> None:
    now = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)  # Tijuana moved its clocks on the 8th
    inside = now - timedelta(hours=7 * 24)
    outside = inside - timedelta(microseconds=1)
    assert rules.weekly_cap_check([inside, inside, inside], now, 3).inputs["count"] == 3
    assert rules.weekly_cap_check([outside, outside, outside], now, 3).passed


def test_the_zone_comes_from_the_address_then_the_area_code_then_the_default() -> None:
    assert rules.debtor_zone(TIJUANA[2], debtor_at(CDMX), "X").source == "address"
    assert rules.debtor_zone(TIJUANA[2], debtor_at(CDMX), "X").zone == CDMX[3]
    nowhere = DebtorFacts(TIJUANA[2], "Atlántida", "")
    assert rules.debtor_zone(TIJUANA[2], nowhere, "X").zone == TIJUANA[3]
    assert rules.debtor_zone("+529000000000", None, "America/Merida").source == "default"


# --- identity lock and disclosure -----------------------------------------------------------


@st.composite
def attempt_lists(draw: st.DrawFn, now: datetime) -> tuple[IdentityAttempt, ...] | None:
    if draw(st.booleans()) and draw(st.booleans()):
        return None
    offsets = draw(st.lists(st.integers(-60, 2 * LOCK_HOURS * 60), max_size=6))
    # two failures for a success: locks happen, and so do unlocked subjects
    attempts = [IdentityAttempt(draw(st.integers(0, 2)) == 0, now - minutes(m)) for m in offsets]
    return tuple(sorted(attempts, key=lambda a: a.attempted_at))


def trailing_failures(attempts: tuple[IdentityAttempt, ...], now: datetime) -> list[datetime]:
    """The failures of the last LOCK_HOURS after the last success, oldest first."""
    recent = [a for a in attempts if a.attempted_at >= now - timedelta(hours=LOCK_HOURS)]
    tail = list(takewhile(lambda a: not a.succeeded, reversed(recent)))
    return [a.attempted_at for a in reversed(tail)]


@settings(max_examples=EXAMPLES, deadline=None)
@given(now=instants, data=st.data())
def test_the_lock_is_three_failures_since_the_last_success_in_24_hours(
    now: datetime, data: st.DataObject
) -> None:
    facts = IdentityFacts(data.draw(attempt_lists(now)), data.draw(attempt_lists(now)))
    lock = rules.identity_lock(facts, now)
    subjects = [
        trailing_failures(a, now) for a in (facts.number, facts.conversation) if a is not None
    ]
    ends = [f[MAX_ATTEMPTS - 1] + timedelta(hours=LOCK_HOURS) for f in subjects if len(f) >= 3]
    assert lock.locked is bool(ends)
    if ends:
        assert lock.locked_until == max(ends) and lock.attempts_left == 0
    else:
        assert lock.attempts_left == min((MAX_ATTEMPTS - len(f) for f in subjects), default=3)


@st.composite
def disclosure_cases(draw: st.DrawFn) -> dict[str, Any]:
    now = draw(instants)
    address = draw(st.sampled_from(ADDRESSES))
    phone = draw(st.sampled_from((None, address[2], address[2], address[2])))
    conversation = draw(st.sampled_from((None, "c-1", "c-1", "c-2")))
    verifications = st.builds(
        Verification,
        id=st.integers(1, 9),
        conversation_id=st.sampled_from((*[conversation or "c-1"] * 3, "c-2")),
        phone=st.sampled_from((*[address[2]] * 3, ADDRESSES[1][2])),
        expires_at=st.integers(-30, 150).map(lambda m: now + minutes(m)),
        ended_at=st.sampled_from((None, None, None, now - minutes(1))),
    )
    verification = draw(st.one_of(st.none(), verifications, verifications, verifications))
    known = phone is not None and draw(st.integers(0, 4)) > 0
    facts = DisclosureFacts(
        phone,
        conversation,
        debtor_at(address) if known else None,
        verification,
        blocks=draw(st.one_of(st.just(()), st.just(()), block_lists(now))),
        identity=IdentityFacts(draw(attempt_lists(now)), draw(attempt_lists(now))),
    )
    return {"facts": facts, "now": now}


def disclose(case: dict[str, Any]) -> rules.Decision:
    return rules.disclosure_decision(
        case["facts"], SETTINGS, case["now"], channel="whatsapp", actor="bot"
    )


def allowed_disclosure(**changes: Any) -> dict[str, Any]:
    phone = TIJUANA[2]
    verification = Verification(1, "c-1", phone, NOW + minutes(20), None)
    facts = DisclosureFacts(phone, "c-1", debtor_at(TIJUANA), verification)
    return {"facts": replace(facts, **changes), "now": NOW}


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=disclosure_cases())
@example(case=allowed_disclosure(verification=Verification(1, "c-2", TIJUANA[2], NOW, None)))
@example(case=allowed_disclosure(verification=Verification(1, "c-1", TIJUANA[2], NOW, None)))
def test_never_disclose_without_this_conversations_verification_of_this_number(
    case: dict[str, Any],
) -> None:
    decision = disclose(case)
    facts, now = case["facts"], case["now"]
    if decision.allowed:
        v = facts.verification
        assert v is not None and facts.phone is not None
        assert v.phone == facts.phone and v.conversation_id == facts.conversation_id
        assert v.ended_at is None and now < v.expires_at


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=disclosure_cases())
def test_never_disclose_while_locked_or_to_a_flagged_or_unknown_number(
    case: dict[str, Any],
) -> None:
    decision = disclose(case)
    facts, now = case["facts"], case["now"]
    attempts = [a for a in (facts.identity.number, facts.identity.conversation) if a]
    locked = any(len(trailing_failures(a, now)) >= MAX_ATTEMPTS for a in attempts)
    if decision.allowed:
        assert facts.debtor is not None and not facts.blocks and not locked
    if facts.debtor is not None:
        assert ("identity_lock" in decision.blocked_by) is locked
        assert ("third_party" in decision.blocked_by) is bool(facts.blocks)


def test_a_verified_debtor_is_disclosed_to() -> None:
    assert disclose(allowed_disclosure()).allowed
    three = tuple(IdentityAttempt(False, NOW - minutes(m)) for m in (30, 20, 10))
    locked = disclose(allowed_disclosure(identity=IdentityFacts(None, three)))
    assert locked.blocked_by == ["identity_lock"]
    two = IdentityFacts(three[1:], three[1:])
    assert disclose(allowed_disclosure(identity=two)).allowed


# --- the dialogue's flags -------------------------------------------------------------------


@settings(max_examples=EXAMPLES, deadline=None)
@given(case=contact_cases(known=None))
def test_flags_follow_the_same_rules(case: dict[str, Any]) -> None:
    facts = case["facts"]
    snapshot = FlagFacts(facts.phone, facts.debtor, facts.blocks, facts.consents)
    flags = rules.conversation_flags(snapshot, case["settings"], case["now"], case["channel"])
    opening, closing = case["settings"].contact_hours
    assert flags.zona_horaria == ZONE_OF[facts.phone]
    assert flags.en_horario is (opening <= local_now(case).time() < closing)
    assert flags.contacto_bloqueado is bool(facts.blocks)
    if facts.debtor is None:
        assert flags.consentimiento == NONE
    decision = decide({**case, "reply_to": None})
    if facts.debtor is not None:
        assert ("opt_out" in decision.blocked_by) is (flags.consentimiento == REVOKED)
        assert ("consent" in decision.blocked_by) is (flags.consentimiento != GRANTED)


def test_no_number_no_flags() -> None:
    flags = rules.conversation_flags(None, SETTINGS, NOW, "whatsapp")
    assert flags.as_slots() == {
        "en_horario": False,
        "consentimiento": NONE,
        "contacto_bloqueado": False,
        "zona_horaria": SETTINGS.default_time_zone,
    }
