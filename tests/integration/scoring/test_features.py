"""Features as of a day: no look-ahead (property test), protected attributes, snapshots and
labels — on the demo portfolio, SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from cobranza.clock import FixedClock
from cobranza.config import ConfigError, load_settings
from cobranza.db.models import (
    AuditLog,
    Consent,
    ContactAttempt,
    Debt,
    Debtor,
    FeatureSnapshot,
    OutreachMessage,
    Payment,
    Promise,
)
from cobranza.domain.vocabulary import AuditAction, PromiseStatus
from cobranza.personas.profiles import PersonaProfile
from cobranza.scoring.features import FEATURE_NAMES, PROTECTED, features_as_of
from cobranza.scoring.snapshots import labelled, write_snapshots
from tests.support.clock import DEMO_TODAY, NOW

TIJUANA = ZoneInfo("America/Tijuana")


def _end_everywhere(day: date) -> datetime:
    """After the end of ``day`` in every Mexican zone (Tijuana's midnight is the latest)."""
    return datetime.combine(day + timedelta(days=1), time(0), TIJUANA).astimezone(timezone.utc)


KINDS = ("payment", "promise", "resolve", "contact", "message", "consent", "dispute", "hardship")


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    back=st.integers(min_value=1, max_value=40),
    rows=st.lists(
        st.tuples(
            st.sampled_from(KINDS),
            st.integers(min_value=0, max_value=10_000),  # which debtor / debt
            st.integers(min_value=1, max_value=20 * 3600),  # seconds after the day ends
        ),
        min_size=1,
        max_size=8,
    ),
)
def test_rows_dated_after_the_day_never_change_its_features(
    seeded_sessions: sessionmaker,
    profiles: dict[str, PersonaProfile],
    back: int,
    rows: list[tuple[str, int, int]],
) -> None:
    day = DEMO_TODAY - timedelta(days=back)
    after = _end_everywhere(day)
    session = seeded_sessions()
    try:
        phones = sorted(session.execute(select(Debtor.phone)).scalars())
        touched = {phones[i % len(phones)] for _, i, _ in rows}
        before = features_as_of(session, day, touched, profiles=profiles)
        for n, (kind, index, seconds) in enumerate(rows):
            phone = phones[index % len(phones)]
            # Payments stay before DEMO_TODAY's local end, so (as an import would) they lower
            # the balance without moving balance_as_of (the documented limit, features.py).
            at = min(
                after + timedelta(seconds=seconds), _end_everywhere(DEMO_TODAY) - timedelta(days=1)
            )
            at = max(at, after)
            debt = session.execute(
                select(Debt).where(Debt.debtor_phone == phone, Debt.current_balance > 1).limit(1)
            ).scalar_one_or_none()
            if kind == "payment" and debt is not None:
                amount = (Decimal(debt.current_balance) / 3).quantize(Decimal("0.01"))
                if amount > 0:
                    session.add(Payment(debt_id=debt.id, amount=amount, paid_at=at, method="spei"))
                    debt.current_balance = Decimal(debt.current_balance) - amount
            elif kind == "promise" and debt is not None:
                session.add(
                    Promise(
                        folio=f"P-TEST-{n:02d}",
                        debt_id=debt.id,
                        debtor_phone=phone,
                        amount=Decimal("100.00"),
                        due_date=day + timedelta(days=3),
                        channel="whatsapp",
                        status=PromiseStatus.BROKEN,
                        created_at=at,
                        updated_at=at,
                        resolved_at=at + timedelta(hours=1),
                    )
                )
            elif kind == "resolve":
                for promise in session.execute(
                    select(Promise).where(Promise.debtor_phone == phone)
                ).scalars():
                    if promise.status == PromiseStatus.PENDING:
                        promise.status = PromiseStatus.KEPT
                        promise.resolved_at = at
                        promise.updated_at = at
            elif kind == "contact":
                for direction in ("inbound", "outbound"):
                    session.add(
                        ContactAttempt(
                            debtor_phone=phone,
                            channel="sms",
                            direction=direction,
                            initiated_by="bot",
                            attempted_at=at,
                            outcome="sent",
                        )
                    )
            elif kind == "message":
                session.add(
                    OutreachMessage(
                        debtor_phone=phone,
                        campaign="prueba",
                        step=f"s{n}",
                        planned_on=day,
                        template="recordatorio",
                        parameters=[],
                        not_before=at,
                        expires_at=at + timedelta(hours=4),
                        status="read",
                        created_at=at,
                        sent_at=at,
                        replied_at=at + timedelta(minutes=5),
                    )
                )
            elif kind == "consent":
                session.add(
                    Consent(
                        debtor_phone=phone,
                        channel="whatsapp",
                        status="revoked",
                        source="prueba",
                        recorded_at=at,
                    )
                )
            elif kind == "dispute":
                session.add(
                    AuditLog(
                        occurred_at=at,
                        actor="bot",
                        action=AuditAction.DISPUTE_OPENED.value,
                        debtor_phone=phone,
                        details={},
                    )
                )
            elif kind == "hardship":
                debtor = session.get(Debtor, phone)
                if debtor is not None and debtor.hardship_declared_at is None:
                    debtor.hardship_declared_at = at
            session.flush()
        assert features_as_of(session, day, touched, profiles=profiles) == before
    finally:
        session.rollback()
        session.close()


def test_rows_on_the_day_do_count(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    """The property above is not vacuous: the same kind of row inside the day changes them."""
    day = DEMO_TODAY - timedelta(days=3)
    session = seeded_sessions()
    try:
        phone = session.execute(select(Debtor.phone).order_by(Debtor.phone)).scalars().first()
        assert phone is not None
        before = features_as_of(session, day, [phone], profiles=profiles)[phone]
        noon = datetime.combine(day, time(12), ZoneInfo("America/Mexico_City"))
        session.add(
            ContactAttempt(
                debtor_phone=phone,
                channel="sms",
                direction="inbound",
                initiated_by="bot",
                attempted_at=noon,
                outcome="reply",
            )
        )
        session.flush()
        after = features_as_of(session, day, [phone], profiles=profiles)[phone]
        assert after.features["inbound_contacts_30d"] == before.features["inbound_contacts_30d"] + 1  # type: ignore[operator]
        assert after.features["last_contact_channel"] == "sms"
    finally:
        session.rollback()
        session.close()


def test_persona_as_of_the_day_is_the_engines_on_the_same_facts(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    with seeded_sessions() as session:
        rows = features_as_of(session, DEMO_TODAY, profiles=profiles)
        stored = dict(session.execute(select(Debtor.phone, Debtor.persona)).all())
    assert rows
    assert all(row.features["persona"] == stored[phone] for phone, row in rows.items())


def test_no_protected_attribute_unless_switched_on(
    seeded_sessions: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    with seeded_sessions() as session:
        rows = features_as_of(session, DEMO_TODAY, profiles=profiles)
        aged = features_as_of(session, DEMO_TODAY, profiles=profiles, use_age=True)
    for row in rows.values():
        assert tuple(row.features) == FEATURE_NAMES
        assert not set(row.features) & {*PROTECTED, "age"}
    assert all(isinstance(r.features["age"], float) for r in aged.values())
    with pytest.raises(ConfigError, match="SCORING_AGE_JUSTIFICATION"):
        load_settings({"SCORING_USE_AGE": "true"})
    on = load_settings(
        {"SCORING_USE_AGE": "true", "SCORING_AGE_JUSTIFICATION": "producto de nómina por edad"}
    )
    assert on.scoring.use_age and on.scoring.age_justification
    assert not load_settings({}).scoring.use_age


def test_snapshots_are_idempotent_and_labels_wait_for_their_horizon(
    demo: sessionmaker, profiles: dict[str, PersonaProfile]
) -> None:
    clock = FixedClock(NOW)
    first, last = DEMO_TODAY - timedelta(days=12), DEMO_TODAY - timedelta(days=2)
    with demo() as session:
        for k in range((last - first).days + 1):
            assert write_snapshots(session, first + timedelta(days=k), clock, profiles=profiles)
        assert write_snapshots(session, last, clock, profiles=profiles) == 0
        assert (
            session.execute(
                select(func.count())
                .select_from(AuditLog)
                .where(AuditLog.action == AuditAction.FEATURES_SNAPSHOTTED)
            ).scalar_one()
            == 11
        )
        session.commit()
        data = labelled(session, horizon_days=5, target_share=Decimal("0.10"))
        per_day = session.execute(
            select(func.count()).select_from(FeatureSnapshot).where(FeatureSnapshot.as_of == first)
        ).scalar_one()
    # Data ends on `last`: days after last − 5 have no label yet and are left out.
    assert data.data_end == last
    assert max(data.days) == last - timedelta(days=5)
    assert data.unlabelled == 5 * per_day
    # The label is the payments recorded in (day, day + 5], checked here by hand.
    i = next(i for i, paid in enumerate(data.paid) if paid > 0)
    assert data.labels[i] == int(data.paid[i] >= Decimal("0.10") * data.balances[i])
