"""``cobranza simulate`` on a smaller run (21 days, 150 debtors across the 12 Mexican zones):
no compliance invariant breaks, the same seed gives the same report, and the funnel is
plausible — messages sent, replies, promises kept and broken, follow-ups after the broken ones,
opt-outs with nothing sent to them afterwards. And the invariant checker is shown to catch
each kind of violation on hand-made sends, so a clean run means something."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cobranza import db
from cobranza.config import OutreachSettings, Settings, load_settings
from cobranza.db.audit import simulated_database
from cobranza.db.models import Consent, ContactAttempt, OutreachMessage
from cobranza.domain.geography import MEXICAN_TIME_ZONES
from cobranza.domain.phones import whatsapp_id
from cobranza.domain.vocabulary import OutreachStatus
from cobranza.personas.profiles import PersonaProfile
from cobranza.services.consent import revoke_consent
from cobranza.simulation.behaviour import BehaviourError, load_behaviour, parse_behaviour
from cobranza.simulation.invariants import Received, violations
from cobranza.simulation.run import SimulationError, SimulationReport, simulate, steps
from tests.support import outreach as data
from tests.support.clock import SteppingClock

UTC = timezone.utc
TIJUANA = ZoneInfo("America/Tijuana")
CDMX = ZoneInfo("America/Mexico_City")
START = datetime(2026, 12, 7, 5, 0, tzinfo=CDMX)  # a Monday
DAYS, DEBTORS, SEED = 21, 150, 8


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimulationReport, str]:
    """One run kept on disk (to look at its rows afterwards)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('simulation') / 'run.db'}"
    return simulate(DAYS, DEBTORS, SEED, start=START, database_url=url), url


def test_no_invariant_breaks_across_the_twelve_zones(
    first_run: tuple[SimulationReport, str],
) -> None:
    report, _ = first_run
    assert report.violations == []
    assert set(report.zones) == set(MEXICAN_TIME_ZONES)
    assert report.debtors == DEBTORS and report.total.debtors == DEBTORS


def test_the_same_seed_gives_the_same_report(first_run: tuple[SimulationReport, str]) -> None:
    report, _ = first_run
    again = simulate(DAYS, DEBTORS, SEED, start=START)  # a temporary database this time
    assert again.as_dict() == report.as_dict()


def test_the_funnel_is_plausible(first_run: tuple[SimulationReport, str]) -> None:
    report, url = first_run
    total = report.total
    assert report.messages_sent > DEBTORS  # three weeks of campaigns
    assert total.debtors >= total.reached >= total.replied >= total.right_party > 0
    assert total.promises > 0 and total.kept > 0 and total.broken > 0
    assert total.recovered > 0 and report.payments > 0 and report.unmatched_payments == 0
    assert report.follow_ups_after_broken > 0
    assert report.sent_by_campaign.get("promesa_incumplida") == report.follow_ups_after_broken
    assert report.blocked  # the caps held messages back: the engine was exercised
    assert sum(f.debtors for f in report.by_bucket.values()) == DEBTORS
    assert sum(f.debtors for f in report.by_persona.values()) == DEBTORS
    assert report.opt_outs > 0
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            opted = session.execute(
                select(Consent.debtor_phone, Consent.recorded_at).where(
                    Consent.source == "simulacion:baja", Consent.channel == "whatsapp"
                )
            ).all()
            assert len(opted) == report.opt_outs
            for phone, at in opted:
                later = session.execute(
                    select(OutreachMessage.id).where(
                        OutreachMessage.debtor_phone == phone, OutreachMessage.sent_at > at
                    )
                ).all()
                assert later == []
    finally:
        engine.dispose()


def test_the_run_marks_its_database_as_a_simulations(
    first_run: tuple[SimulationReport, str],
) -> None:
    """The console's dashboard reads the marker to say its numbers are simulated."""
    _, url = first_run
    engine = db.make_engine(url)
    try:
        with db.make_session_factory(engine)() as session:
            assert simulated_database(session) is True
    finally:
        engine.dispose()


def test_the_steps_bracket_every_zones_window() -> None:
    """Every zone's 07:00 opening and 22:00 closing, and an hour either side, fall on a step."""
    instants = {at for at, _ in steps(START, 2, timedelta(minutes=30))}
    for name in MEXICAN_TIME_ZONES:
        zone = ZoneInfo(name)
        day = START.astimezone(zone).date() + timedelta(days=1)
        for hour in (6, 7, 21, 22):
            local = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
            assert local.astimezone(UTC) in instants, (name, hour)
        late = datetime(day.year, day.month, day.day, 22, 30, tzinfo=zone)
        assert late.astimezone(UTC) in instants, name


def test_wrong_arguments_are_refused() -> None:
    with pytest.raises(SimulationError):
        simulate(0, DEBTORS, SEED)
    with pytest.raises(SimulationError):
        simulate(1, 6, SEED)
    with pytest.raises(SimulationError):
        simulate(1, DEBTORS, SEED, start=datetime(2026, 12, 7, 5, 0))
    with pytest.raises(SimulationError):
        simulate(1, DEBTORS, SEED, step=timedelta(minutes=7))


def test_a_database_that_is_not_empty_is_refused(migrated_sqlite: Engine, tmp_path: Path) -> None:
    factory = db.make_session_factory(migrated_sqlite)
    with db.session_scope(factory) as session:
        data.debtor(session, "+525511110001")
    url = str(migrated_sqlite.url)
    with pytest.raises(SimulationError, match="vacía"):
        simulate(1, DEBTORS, SEED, database_url=url)


# --- the behaviour file ----------------------------------------------------------------------


def test_the_behaviour_file_covers_every_persona(profiles: dict[str, PersonaProfile]) -> None:
    assert set(load_behaviour(profiles.keys())) == set(profiles)


def test_a_broken_behaviour_file_lists_every_problem(profiles: dict[str, PersonaProfile]) -> None:
    with pytest.raises(BehaviourError) as caught:
        parse_behaviour(
            {
                "personas": {
                    "estandar": {"delivered": 1.5, "otra": 1},
                    "fantasma": {},
                }
            },
            profiles.keys(),
        )
    text = "\n".join(caught.value.problems)
    assert "personas.estandar.delivered: debe ser una probabilidad" in text
    assert "personas.estandar.otra: clave desconocida" in text
    assert "personas.estandar.keep_promise: falta" in text
    assert "personas.fantasma: no es una persona" in text
    assert "personas.reincidente: falta" in text
    with pytest.raises(BehaviourError):
        parse_behaviour({"personas": []}, profiles.keys())
    spec = {k: 0.5 for k in ("delivered",)}
    with pytest.raises(BehaviourError, match="mínimo"):
        parse_behaviour(
            {"personas": {"estandar": {**spec, "partial_share": [0.7, 0.2]}}}, ["estandar"]
        )


# --- the checker catches what it should --------------------------------------------------------


def _settings(**outreach: Any) -> Settings:
    base = load_settings({})
    return replace(base, outreach=OutreachSettings(**outreach))


def _sent(session: Session, phone: str, at: datetime, **kwargs: Any) -> Received:
    """A row as the dispatcher leaves it once Meta accepted it, and what Meta received."""
    row = data.planned(session, phone, at, **kwargs)
    wamid = f"wamid.{row.id}-{phone[-4:]}"
    row.status, row.wamid, row.sent_at = OutreachStatus.SENT, wamid, at
    session.flush()
    return Received(wamid, {"to": whatsapp_id(phone), "type": "template"})


def _local(hour: int, day: int = 8, zone: ZoneInfo = CDMX, minute: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=zone).astimezone(UTC)


@pytest.fixture
def session(migrated_sqlite: Engine) -> Iterator[Session]:
    with Session(migrated_sqlite) as session:
        yield session


def test_a_clean_history_has_no_violation(session: Session) -> None:
    phone = "+525511110010"
    data.debtor(session, phone)
    received = [
        _sent(session, phone, _local(7), step="a"),
        _sent(session, phone, _local(21, day=9, minute=59), step="b"),
    ]
    assert violations(session, received, _settings(), since=_local(0)) == []


def test_the_checker_catches_each_violation(session: Session) -> None:
    settings = _settings()
    since = _local(0, day=1)
    night, optout, none, twice, capped, weekly, stray = (f"+52551111002{n}" for n in range(7))
    data.debtor(session, night, data.TIJUANA)
    data.debtor(session, optout)
    data.debtor(session, none, consent=None)
    for phone in (twice, capped, weekly, stray):
        data.debtor(session, phone)
    received: list[Received] = []
    # 22:00 in Tijuana is inside the window in Mexico City (23:00 there would not be): the zone
    # must be the debtor's.
    received.append(_sent(session, night, _local(22, zone=TIJUANA), step="noche"))
    revoke_consent(session, optout, "prueba", SteppingClock(_local(9)))
    received.append(_sent(session, optout, _local(10), step="tras_baja"))
    received.append(_sent(session, none, _local(10), step="sin_consentimiento"))
    duplicate = _sent(session, twice, _local(10), step="doble")
    received += [duplicate, duplicate]
    received.append(_sent(session, capped, _local(10), step="uno"))
    received.append(_sent(session, capped, _local(18), step="dos"))
    for day in (1, 3, 5, 7):
        received.append(_sent(session, weekly, _local(10, day=day), step=f"dia{day}"))
    received.append(Received("wamid.unknown", {"to": whatsapp_id(stray)}))
    wrong_to = _sent(session, stray, _local(12, day=14), step="otro")
    received.append(Received(wrong_to.wamid, {"to": whatsapp_id(night)}))
    found = violations(session, received, settings, since=since, refused=["404 plantilla"])
    text = "\n".join(found)
    assert "noche, 2026-12-08 22:00 America/Tijuana): fuera del horario permitido" in text
    assert "tras_baja" in text and "después de la baja" in text
    assert "sin_consentimiento" in text and "sin consentimiento vigente" in text
    assert "enviada 2 veces" in text
    assert "2 contactos el 2026-12-08 (límite diario 1)" in text
    assert "4 contactos en los 7 días hasta 2026-12-07 10:00 (límite semanal 3)" in text
    assert "ninguna fila de outreach tiene su wamid" in text
    assert "enviado a otro número" in text
    assert "rechazó un envío: 404 plantilla" in text
    assert len(found) == 10, found


def test_the_caps_count_the_history_before_the_run(session: Session) -> None:
    phone = "+525511110040"
    data.debtor(session, phone)
    session.add(
        ContactAttempt(
            debtor_phone=phone,
            channel="whatsapp",
            direction="outbound",
            initiated_by="campaign:antes",
            attempted_at=_local(8),
            outcome="delivered",
        )
    )
    session.flush()
    received = [_sent(session, phone, _local(12), step="hoy")]
    found = violations(session, received, _settings(), since=_local(11))
    assert len(found) == 1 and "2 contactos el 2026-12-08 (límite diario 1)" in found[0]


def test_weekends_are_violations_only_when_weekdays_only_is_on(session: Session) -> None:
    phone = "+525511110050"
    data.debtor(session, phone)
    saturday = [_sent(session, phone, _local(11, day=12), step="sabado")]
    assert violations(session, saturday, _settings(), since=_local(0)) == []
    found = violations(session, saturday, _settings(weekdays_only=True), since=_local(0))
    assert len(found) == 1 and "en fin de semana" in found[0]


@pytest.mark.postgres
def test_a_short_run_on_postgresql(empty_postgres: Engine) -> None:
    url = empty_postgres.url.render_as_string(hide_password=False)
    report = simulate(5, 60, SEED, start=START, database_url=url)
    assert report.violations == []
    assert report.messages_sent > 0
