"""Campaign-step experiments in the dispatcher (docs/experiments.md), on SQLite and PostgreSQL
against the loopback fake of the Graph API: each debtor gets the template of their stable arm,
the row records the template that may have gone out, the exposure is recorded once — when Meta
accepts the message, in the same transaction as the ``wamid`` — and never for a message that was
refused, throttled, unknown or held back by the compliance engine; two dispatchers at once still
record one exposure per debtor."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.db.models import AuditLog, ExperimentExposure, OutreachMessage
from cobranza.domain.experiments import Experiment, build_experiment
from cobranza.domain.phones import whatsapp_id
from cobranza.outreach.dispatcher import Dispatcher, DispatchReport
from cobranza.services.consent import revoke_consent
from cobranza.services.experiments import record_exposure
from cobranza.simulation.fake_graph import FakeGraphAPI
from tests.support import outreach as data
from tests.support.clock import SteppingClock
from tests.support.outreach import MORNING, UTC, client, rows, run, seed, settings

TEMPLATES = {
    **data.TEMPLATES,
    "aviso_cuenta_asistente": data.Template(
        "aviso_cuenta_asistente", buttons=(data.Button("/saludar"),)
    ),
    "aviso_sin_nombre": data.Template("aviso_sin_nombre", parameters=()),
}
REGISTERED = {"aviso_cuenta": 1, "aviso_cuenta_asistente": 1, "aviso_sin_nombre": 0}
PHONES = [f"+5255113000{n:02d}" for n in range(40)]


def experiment(variant: str = "aviso_cuenta_asistente", **changes: Any) -> Experiment:
    definition: dict[str, Any] = {
        "name": "primer_contacto_asistente",
        "description": "prueba",
        "enabled": True,
        "target": {"campaign": "temprana", "step": "primer_contacto"},
        "arms": [
            {"name": "control", "variant": "aviso_cuenta", "weight": 50},
            {"name": "asistente", "variant": variant, "weight": 50},
        ],
        "metric": "reply_rate",
        "window_days": 3,
        "baseline_rate": 0.15,
        "minimum_effect": 0.03,
        **changes,
    }
    return build_experiment(definition)


EXPERIMENT = experiment()


@pytest.fixture
def graph() -> Any:
    with FakeGraphAPI(data.TOKEN, data.PHONE_ID, templates=REGISTERED) as fake:
        yield fake


def dispatcher(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
    clock: SteppingClock,
    *experiments: Experiment,
    daily_cap: int = 1,
) -> Dispatcher:
    config = replace(settings(), daily_contact_cap=daily_cap, weekly_contact_cap=daily_cap + 2)
    return Dispatcher(
        sessions,
        config,
        clock,
        client(graph),
        TEMPLATES,
        experiments=experiments or (EXPERIMENT,),
    )


def exposures(sessions: sessionmaker) -> list[ExperimentExposure]:
    with sessions() as session:
        return list(
            session.execute(select(ExperimentExposure).order_by(ExperimentExposure.id)).scalars()
        )


def test_each_debtor_gets_their_arms_template_and_one_exposure(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    seed(sessions, *PHONES)
    clock = SteppingClock(MORNING.astimezone(UTC))
    report = run(dispatcher(sessions, graph, clock))
    assert report.sent == len(PHONES)
    sent = {m["to"]: m["template"] for m in graph.messages}
    arms = {phone: EXPERIMENT.assign(phone) for phone in PHONES}
    assert {a.name for a in arms.values()} == {"control", "asistente"}
    for phone, arm in arms.items():
        template = sent[whatsapp_id(phone)]
        assert template["name"] == arm.variant
        assert template["components"][0]["parameters"] == [{"type": "text", "text": "Laura"}]
    by_phone = {row.debtor_phone: row for row in rows(sessions)}
    assert {p: r.template for p, r in by_phone.items()} == {p: a.variant for p, a in arms.items()}
    found = exposures(sessions)
    assert len(found) == len(PHONES)
    for exposure in found:
        row = by_phone[exposure.debtor_phone]
        assert exposure.experiment == EXPERIMENT.name
        assert exposure.arm == arms[exposure.debtor_phone].name
        assert (exposure.outreach_message_id, exposure.exposed_at) == (row.id, row.sent_at)
        assert exposure.conversation_id is None
    with sessions() as session:
        details = session.execute(
            select(AuditLog.details).where(AuditLog.action == "outreach_sent")
        ).scalars()
        assert {(d["experiment"], d["arm"], d["template"]) for d in details} == {
            (EXPERIMENT.name, a.name, a.variant) for a in arms.values()
        }


def test_a_later_message_keeps_the_arm_and_the_first_exposure(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    seed(sessions, *PHONES[:6])
    clock = SteppingClock(MORNING.astimezone(UTC))
    run(dispatcher(sessions, graph, clock))
    first = {e.debtor_phone: (e.arm, e.exposed_at) for e in exposures(sessions)}
    later = MORNING.astimezone(UTC) + timedelta(days=2)
    with db.session_scope(sessions) as session:
        for phone in PHONES[:6]:
            data.planned(session, phone, later)
    clock.at = later
    assert run(dispatcher(sessions, graph, clock)).sent == 6
    assert {e.debtor_phone: (e.arm, e.exposed_at) for e in exposures(sessions)} == first
    for row in rows(sessions):
        assert row.template == EXPERIMENT.assign(row.debtor_phone).variant


def test_a_variant_takes_only_the_values_it_names(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    seed(sessions, *PHONES[:10])
    clock = SteppingClock(MORNING.astimezone(UTC))
    without = experiment("aviso_sin_nombre")
    run(dispatcher(sessions, graph, clock, without))
    for message in graph.messages:
        phone = "+52" + message["to"][3:]
        if without.assign(phone).name == "asistente":
            assert message["template"] == {
                "name": "aviso_sin_nombre",
                "language": {"code": "es_MX"},
            }
        else:
            assert message["template"]["name"] == "aviso_cuenta"
    for row in rows(sessions):
        arm = without.assign(row.debtor_phone)
        assert (row.template, row.parameters) == (
            (arm.variant, []) if arm.name == "asistente" else (arm.variant, ["Laura"])
        )


def test_a_switched_off_experiment_sends_the_steps_template_and_records_nothing(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    seed(sessions, *PHONES[:10])
    clock = SteppingClock(MORNING.astimezone(UTC))
    run(dispatcher(sessions, graph, clock, experiment(enabled=False)))
    assert {m["template"]["name"] for m in graph.messages} == {"aviso_cuenta"}
    assert exposures(sessions) == []


def test_a_dispatcher_refuses_an_experiment_its_templates_cannot_send(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    clock = SteppingClock(MORNING.astimezone(UTC))
    with pytest.raises(ValueError, match="not registered"):
        dispatcher(sessions, graph, clock, experiment("aviso_inexistente"))
    needs_more = {**TEMPLATES, "aviso_mas": data.Template("aviso_mas", parameters=("x",))}
    with pytest.raises(ValueError, match="needs more than the control"):
        Dispatcher(
            sessions,
            settings(),
            clock,
            client(graph),
            needs_more,
            experiments=[experiment("aviso_mas")],
        )


def asistente_phone() -> str:
    return next(p for p in PHONES if EXPERIMENT.assign(p).name == "asistente")


def test_a_throttled_send_goes_back_to_its_planned_template_and_exposes_nobody(
    sessions: sessionmaker,
) -> None:
    phone = asistente_phone()
    seed(sessions, phone)
    clock = SteppingClock(MORNING.astimezone(UTC))
    with FakeGraphAPI(data.TOKEN, data.PHONE_ID, fail_plan={1: 429}, templates=REGISTERED) as fake:
        assert run(dispatcher(sessions, fake, clock)).rescheduled == 1
        [row] = rows(sessions)
        assert (row.status, row.template, row.parameters) == ("planned", "aviso_cuenta", ["Laura"])
        assert exposures(sessions) == []
        clock.at += timedelta(seconds=31)
        assert run(dispatcher(sessions, fake, clock)).sent == 1
        assert [m["template"]["name"] for m in fake.messages] == ["aviso_cuenta_asistente"]
    [exposure] = exposures(sessions)
    assert (exposure.arm, exposure.exposed_at) == ("asistente", clock.at)


@pytest.mark.parametrize(("status", "outcome"), [(500, "unknown"), (400, "failed")])
def test_a_message_not_accepted_exposes_nobody_and_the_row_names_its_template(
    sessions: sessionmaker,
    status: int,
    outcome: str,
) -> None:
    seed(sessions, asistente_phone())
    clock = SteppingClock(MORNING.astimezone(UTC))
    with FakeGraphAPI(
        data.TOKEN, data.PHONE_ID, fail_plan={1: status}, templates=REGISTERED
    ) as fake:
        run(dispatcher(sessions, fake, clock))
    [row] = rows(sessions)
    assert (row.status, row.template) == (outcome, "aviso_cuenta_asistente")
    assert exposures(sessions) == []


def test_a_crash_after_the_claim_leaves_the_variant_on_the_row_and_no_exposure(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    seed(sessions, asistente_phone())
    clock = SteppingClock(MORNING.astimezone(UTC))
    [claimed] = dispatcher(sessions, graph, clock).claim(DispatchReport())
    assert claimed.payload["template"]["name"] == "aviso_cuenta_asistente"
    [row] = rows(sessions)
    assert (row.status, row.template) == ("sending", "aviso_cuenta_asistente")
    clock.at += timedelta(minutes=11)
    run(dispatcher(sessions, graph, clock))
    assert graph.request_count == 0 and rows(sessions)[0].status == "unknown"
    assert exposures(sessions) == []


def test_compliance_is_asked_first_and_a_held_row_keeps_its_planned_template(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    opted = asistente_phone()
    late = next(p for p in PHONES if p != opted)
    seed(sessions, opted)
    night = MORNING.astimezone(UTC) + timedelta(hours=13)  # 23:00 in Mexico City
    seed(sessions, late, at=night)
    clock = SteppingClock(MORNING.astimezone(UTC))
    with db.session_scope(sessions) as session:
        revoke_consent(session, opted, "BAJA", clock)
    clock.at = night
    report = run(dispatcher(sessions, graph, clock))
    assert report.dropped == {"opt_out": 1} and report.blocked == {"contact_window": 1}
    assert graph.request_count == 0 and exposures(sessions) == []
    assert {r.template for r in rows(sessions)} == {"aviso_cuenta"}


def test_two_dispatchers_at_once_record_one_exposure_per_debtor(
    sessions: sessionmaker,
    graph: FakeGraphAPI,
) -> None:
    """Two rows per debtor (yesterday's and today's, both still valid, a cap of 3 a day), two
    dispatchers draining at once in small batches: both rows of a debtor may go out at the same
    moment from different dispatchers; each debtor is exposed once, in the arm they were sent."""
    phones = PHONES[:30]
    seed(sessions, *phones)
    yesterday = MORNING.astimezone(UTC) - timedelta(days=1)
    with db.session_scope(sessions) as session:
        for phone in phones:
            data.planned(session, phone, yesterday)
    clock = SteppingClock(MORNING.astimezone(UTC))
    errors = data.drain_at_once(sessions, lambda: dispatcher(sessions, graph, clock, daily_cap=3))
    assert errors == []
    postgres = sessions.kw["bind"].dialect.name == "postgresql"
    reached = {"+52" + m["to"][3:] for m in graph.messages}
    found = exposures(sessions)
    assert sorted(e.debtor_phone for e in found) == sorted(reached)
    for exposure in found:
        assert exposure.arm == EXPERIMENT.assign(exposure.debtor_phone).name
    with sessions() as session:
        sent = session.execute(
            select(func.count()).where(OutreachMessage.status == "sent")
        ).scalar_one()
    assert sent == len(graph.messages)
    if postgres:
        assert (sent, len(found)) == (60, 30)


@pytest.mark.postgres
def test_racing_inserts_of_one_exposure_keep_the_first(
    empty_postgres: Any,
) -> None:
    """Eight transactions insert the same debtor's exposure at the same moment, on
    PostgreSQL: exactly one says it recorded it, and one row is left."""
    db.upgrade(empty_postgres)
    factory = db.make_session_factory(empty_postgres)
    with db.session_scope(factory) as session:
        data.debtor(session, PHONES[0])
        row = data.planned(session, PHONES[0], MORNING.astimezone(UTC))
        row_id = row.id
    barrier = threading.Barrier(8)
    recorded: list[bool] = []

    def insert(arm: str) -> None:
        with db.session_scope(factory) as session:
            barrier.wait()
            recorded.append(
                record_exposure(session, "x", arm, PHONES[0], MORNING, outreach_message_id=row_id)
            )

    threads = [threading.Thread(target=insert, args=(f"a{n}",)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(recorded) == [False] * 7 + [True]
    with factory() as session:
        assert session.execute(select(func.count()).select_from(ExperimentExposure)).scalar() == 1


def test_an_exposure_names_exactly_one_source(sessions: sessionmaker) -> None:
    seed(sessions, PHONES[0])
    with (
        db.session_scope(sessions) as session,
        pytest.raises(ValueError, match="campaign message or a conversation"),
    ):
        record_exposure(session, "x", "a", PHONES[0], MORNING)
    with db.session_scope(sessions) as session, pytest.raises(ValueError):
        record_exposure(
            session, "x", "a", PHONES[0], MORNING, outreach_message_id=1, conversation_id="c"
        )
