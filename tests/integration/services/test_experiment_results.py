"""An experiment's results from our tables (cobranza/services/experiments.py), on SQLite and
PostgreSQL: each metric counted within the window after the first exposure (edges included and
excluded exactly), only closed windows analysed, the analysis cut where the last arm reached
its plan, and the verdict the statistics give for those counts."""

from __future__ import annotations

import itertools
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cobranza import db
from cobranza.db import audit
from cobranza.db.models import Debt, Payment, Promise
from cobranza.domain.experiments import Experiment, build_experiment
from cobranza.domain.statistics import Outcome
from cobranza.domain.vocabulary import AuditAction
from cobranza.services.experiments import record_exposure, results
from tests.support import outreach as data

UTC = timezone.utc
T0 = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
_serial = itertools.count(1)


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


def experiment(metric: str = "payment_rate", window: int = 7, **changes: Any) -> Experiment:
    """Control vs b; 10% → ±40 points plans 20 debtors an arm."""
    return build_experiment(
        {
            "name": "prueba",
            "description": "prueba",
            "enabled": True,
            "target": {"campaign": "temprana", "step": "primer_contacto"},
            "arms": [
                {"name": "control", "variant": "aviso", "weight": 50},
                {"name": "b", "variant": "aviso_b", "weight": 50},
            ],
            "metric": metric,
            "window_days": window,
            "baseline_rate": 0.1,
            "minimum_effect": 0.4,
            **changes,
        }
    )


def phone(n: int) -> str:
    return f"+52551150{n:04d}"


def debtor(session: Session, n: int) -> str:
    number = phone(n)
    data.debtor(session, number)
    return number


def debt_id(session: Session, number: str) -> int:
    return int(session.execute(select(Debt.id).where(Debt.debtor_phone == number)).scalar_one())


def expose(session: Session, number: str, arm: str, at: datetime, name: str = "prueba") -> None:
    assert record_exposure(session, name, arm, number, at, conversation_id=f"c{number}")


def pay(session: Session, number: str, at: datetime) -> None:
    session.add(
        Payment(
            debt_id=debt_id(session, number), amount=Decimal("100.00"), paid_at=at, method="spei"
        )
    )


def promise(
    session: Session, number: str, created: datetime, status: str = "pending", resolved: Any = None
) -> None:
    session.add(
        Promise(
            folio=f"PP-{next(_serial):06d}",
            debt_id=debt_id(session, number),
            debtor_phone=number,
            amount=Decimal("100.00"),
            due_date=date(2026, 12, 31),
            channel="whatsapp",
            status=status,
            created_at=created,
            updated_at=created,
            resolved_at=resolved,
        )
    )


def reply(session: Session, number: str, at: datetime) -> None:
    row = data.planned(session, number, at - timedelta(hours=2))
    row.status, row.sent_at, row.replied_at = "read", at - timedelta(hours=1), at


def event(session: Session, metric: str, number: str, at: datetime, **kept: Any) -> None:
    if metric == "payment_rate":
        pay(session, number, at)
    elif metric == "promise_rate":
        promise(session, number, at)
    elif metric == "reply_rate":
        reply(session, number, at)
    else:
        promise(session, number, kept.get("created", at), "kept", at)


@pytest.mark.parametrize("metric", ["reply_rate", "promise_rate", "payment_rate"])
def test_an_outcome_counts_from_the_exposure_until_the_window_closes(
    sessions: sessionmaker, metric: str
) -> None:
    window = timedelta(days=3)
    exposed = T0
    with db.session_scope(sessions) as session:
        numbers = [debtor(session, n) for n in range(6)]
        for number in numbers[:5]:
            expose(session, number, "control", exposed)
        event(session, metric, numbers[0], exposed - SECOND)  # before: no
        event(session, metric, numbers[1], exposed)  # at the exposure: yes
        event(session, metric, numbers[2], exposed + window - SECOND)  # last second: yes
        event(session, metric, numbers[3], exposed + window)  # window closed: no
        # numbers[4] does nothing; numbers[5]'s window is still open at NOW
        expose(session, numbers[5], "b", NOW - window + SECOND)
        event(session, metric, numbers[5], NOW - window + 2 * SECOND)
    with sessions() as session:
        found = results(session, experiment(metric, window=3), NOW)
    control, b = found.arms
    assert (control.exposed, control.closed, control.analysed, control.successes) == (5, 5, 5, 2)
    assert (b.exposed, b.closed, b.analysed, b.successes) == (1, 0, 0, 0)
    assert found.running and found.verdict.text.startswith("en curso (faltan 35 deudores")
    assert found.verdict.comparisons == ()


def test_a_kept_promise_counts_when_made_and_kept_within_the_window(
    sessions: sessionmaker,
) -> None:
    window = timedelta(days=10)
    with db.session_scope(sessions) as session:
        numbers = [debtor(session, n) for n in range(6)]
        for number in numbers:
            expose(session, number, "control", T0)
        event(session, "kept", numbers[0], T0 + SECOND, created=T0 - SECOND)  # made before
        event(session, "kept", numbers[1], T0, created=T0)  # made and kept at once: yes
        event(session, "kept", numbers[2], T0 + window - SECOND, created=T0 + SECOND)  # yes
        event(session, "kept", numbers[3], T0 + window, created=T0 + SECOND)  # kept too late
        promise(session, numbers[4], T0 + SECOND, "broken", T0 + timedelta(days=2))
        promise(session, numbers[5], T0 + SECOND)  # still pending
    with sessions() as session:
        found = results(session, experiment("promise_kept_rate", window=10), NOW)
    assert (found.arms[0].analysed, found.arms[0].successes) == (6, 2)


def test_the_analysis_stops_where_the_last_arm_reached_its_plan(sessions: sessionmaker) -> None:
    """Control's 20th exposure comes at 19 h, b's at 38 h: both arms are read up to 38 h (25
    control debtors, 20 of b); b's later debtors and their payments change nothing."""
    exp = experiment()
    assert exp.planned_per_arm == 20
    with db.session_scope(sessions) as session:
        for n in range(25):
            number = debtor(session, n)
            expose(session, number, "control", T0 + timedelta(hours=n))
            if n < 5:
                pay(session, number, T0 + timedelta(hours=n, days=1))
        for n in range(22):
            number = debtor(session, 100 + n)
            expose(session, number, "b", T0 + timedelta(hours=2 * n))
            if n < 15 or n >= 20:
                pay(session, number, T0 + timedelta(hours=2 * n, days=2))
        expose(session, debtor(session, 500), "retirado", T0)  # an arm no longer defined
    with sessions() as session:
        found = results(session, exp, NOW)
    control, b = found.arms
    assert (control.exposed, control.closed, control.analysed, control.successes) == (25, 25, 25, 5)
    assert (b.exposed, b.closed, b.analysed, b.successes) == (22, 22, 20, 15)
    assert found.cutoff == T0 + timedelta(hours=38)
    assert found.verdict == exp.verdict({"control": (5, 25), "b": (15, 20)})
    assert found.verdict.outcome is Outcome.WINS and found.verdict.text == "gana b"
    [comparison] = found.verdict.comparisons
    assert comparison.difference == pytest.approx(15 / 20 - 5 / 25)
    assert comparison.interval.low > 0 and comparison.adjusted_p_value < 0.05
    assert found.other_arms == {"retirado": 1}
    assert (found.first_exposed, found.last_exposed) == (T0, T0 + timedelta(hours=42))
    as_json = json.loads(json.dumps(found.as_dict()))
    assert as_json["outcome"] == "wins" and as_json["verdict"] == "gana b"
    assert as_json["arms"][1]["analysed"] == 20 and as_json["cutoff"] == found.cutoff.isoformat()
    assert as_json["comparisons"][0]["confidence"] == pytest.approx(0.95)


def test_before_the_plan_no_comparison_whatever_the_data(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        for n in range(19):  # one short of the plan in each arm, all b's debtors pay
            a, b = debtor(session, n), debtor(session, 100 + n)
            expose(session, a, "control", T0)
            expose(session, b, "b", T0)
            pay(session, b, T0 + timedelta(hours=1))
    with sessions() as session:
        found = results(session, experiment(), NOW)
    assert found.running and found.cutoff is None and found.verdict.comparisons == ()
    assert found.verdict.text == "en curso (faltan 2 deudores; control: 1, b: 1)"
    assert [(a.successes, a.analysed, a.rate) for a in found.arms] == [(0, 19, 0.0), (19, 19, 1.0)]


def test_no_exposure_yet(sessions: sessionmaker) -> None:
    with sessions() as session:
        found = results(session, experiment(), NOW)
    assert [a.exposed for a in found.arms] == [0, 0] and found.first_exposed is None
    assert found.verdict.text == "en curso (faltan 40 deudores; control: 20, b: 20)"
    assert found.as_dict()["arms"][0]["rate"] is None


def test_results_on_a_simulations_database_say_so(sessions: sessionmaker) -> None:
    with sessions() as session:
        assert results(session, experiment(), NOW).simulated is False
    with db.session_scope(sessions) as session:
        audit.record(session, T0, AuditAction.SIMULATION_STARTED, None, actor="simulacion")
    with sessions() as session:
        found = results(session, experiment(), NOW)
    assert found.simulated is True and found.as_dict()["simulated"] is True


def test_another_experiments_exposures_are_not_counted(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        number = debtor(session, 1)
        expose(session, number, "control", T0, name="otro")
        pay(session, number, T0 + SECOND)
    with sessions() as session:
        assert results(session, experiment(), NOW).arms[0].exposed == 0
