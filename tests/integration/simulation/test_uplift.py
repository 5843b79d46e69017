"""The simulation's ordering experiment (``--daily-recipients``, ``--model``, ``--order``): with
a binding budget and a model, the debtors are scored every simulated day and the planner copies
the scores onto the rows, so the dispatcher reaches the higher-scored debtors first; with
``order="random"`` the rows carry seeded random numbers instead and the sends differ. Options
that cannot work together are refused with a clear message, by ``simulate`` and by the CLI.

The model is trained in a second on the scoring tests' synthetic set (tests/integration/
scoring/conftest.py): what is tested is the plumbing, not the model's quality. The experiment's
tests run on SQLite and again on PostgreSQL (the dispatcher's NULL-last score order differs in
SQL between them), each on fresh databases kept for the module."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from cobranza import bootstrap, db
from cobranza.cli.commands import main
from cobranza.clock import FixedClock
from cobranza.config import Secret, load_settings
from cobranza.db.models import DebtorScore, OutreachMessage
from cobranza.outreach import worker
from cobranza.outreach.dispatcher import DAILY_RECIPIENTS, Dispatcher
from cobranza.outreach.pacing import Pacer
from cobranza.scoring.model import TrainedModel, save, train
from cobranza.simulation.fake_graph import FakeGraphAPI, registered
from cobranza.simulation.run import SimulationError, SimulationReport, simulate
from tests.integration.scoring.conftest import CREATED, SOURCE, synthetic
from tests.support.db import PostgresDatabases, sqlite_url

CDMX = ZoneInfo("America/Mexico_City")
START = datetime(2026, 12, 7, 5, 0, tzinfo=CDMX)  # a Monday
DAYS, DEBTORS, SEED, BUDGET = 4, 120, 7, 6
TOKEN, PHONE_ID = "EAAG-prueba", "100000000000009"


@pytest.fixture(scope="module")
def model() -> TrainedModel:
    return train(synthetic(days=30, debtors=150), seed=7, source=SOURCE, created_at=CREATED)


# A fresh database's URL: empty, or a copy of another one of the same kind.
NewDatabase = Callable[..., str]


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def new_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> NewDatabase:
    """Fresh databases for the module: SQLite files, or PostgreSQL databases (a copy through
    ``CREATE DATABASE … TEMPLATE``), all kept until the module ends."""
    if request.param == "postgres":
        databases: PostgresDatabases = request.getfixturevalue("module_postgres")
        return databases.create

    def new(copy_of: str | None = None) -> str:
        path = tmp_path_factory.mktemp("run") / "run.db"
        if copy_of:
            shutil.copyfile(make_url(copy_of).database or "", path)
        return sqlite_url(path)

    return new


@pytest.fixture(scope="module")
def runs(model: TrainedModel, new_database: NewDatabase) -> dict[str, tuple[SimulationReport, str]]:
    """The same seeded run twice, kept: ordered by score, and at random."""
    out = {}
    for order in ("score", "random"):
        url = new_database()
        report = simulate(
            DAYS,
            DEBTORS,
            SEED,
            start=START,
            database_url=url,
            daily_recipients=BUDGET,
            model=model,
            order=order,
        )
        out[order] = (report, url)
    return out


def _rows(url: str) -> list[OutreachMessage]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            return list(session.execute(select(OutreachMessage)).scalars())
    finally:
        engine.dispose()


def _probabilities(url: str) -> dict[tuple[str, date], float]:
    engine = db.make_engine(url)
    try:
        with Session(engine) as session:
            return {
                (phone, day): p
                for phone, day, p in session.execute(
                    select(DebtorScore.debtor_phone, DebtorScore.as_of, DebtorScore.probability)
                )
            }
    finally:
        engine.dispose()


def _one_more_round(
    new_database: NewDatabase, run_url: str, at: datetime
) -> tuple[list[OutreachMessage], set[int]]:
    """One dispatcher drain at ``at`` on a copy of a finished run's database (the run's own
    stays as the run left it), with the simulation's components (real templates, a fake
    Graph API): the rows after it, and the ids that were due before it."""
    url = new_database(run_url)
    clock = FixedClock(at.astimezone(timezone.utc))
    base = load_settings()
    settings = replace(
        base,
        database=Secret(url),
        outreach=replace(base.outreach, daily_recipients=BUDGET),
    )
    engine = db.make_engine(url)
    try:
        app = bootstrap.build(settings, clock=clock, engine=engine)
        files = worker.load_files(app)
        with Session(engine) as session:
            due = set(
                session.execute(
                    select(OutreachMessage.id).where(
                        OutreachMessage.status == "planned",
                        OutreachMessage.not_before <= clock.now(),
                        OutreachMessage.expires_at > clock.now(),
                    )
                ).scalars()
            )
        with FakeGraphAPI(TOKEN, PHONE_ID, templates=registered(files.templates)) as graph:
            client = graph.client()
            dispatcher = Dispatcher(
                app.sessions, app.settings, clock, client, files.templates, pacer=Pacer(1e9)
            )

            async def drain() -> None:
                try:
                    await dispatcher.drain()
                finally:
                    await client.close()

            asyncio.run(drain())
        with Session(engine) as session:
            rows = list(session.execute(select(OutreachMessage)).scalars())
        return rows, due
    finally:
        engine.dispose()


# The morning after the run's last day, 09:30 in Mexico City: every zone's window is open
# (07:30 in Tijuana), the held rows have not expired yet, and the budget slots of the first
# sends of the day before have reopened, so every held row competes for them at once.
ROUND = datetime.combine(START.date() + timedelta(days=DAYS), datetime.min.time(), CDMX)
ROUND += timedelta(hours=9, minutes=30)


def _claimed_and_held(
    rows: list[OutreachMessage], due: set[int], at: datetime
) -> tuple[dict[str, tuple[int, float]], list[tuple[int, float]]]:
    """Per debtor reached in the round, its best (priority, score); and the (priority, score)
    of each due row the budget held back in that round."""
    now = at.astimezone(timezone.utc).replace(tzinfo=None)
    claimed: dict[str, tuple[int, float]] = {}
    held: list[tuple[int, float]] = []
    for row in rows:
        if row.id not in due:
            continue
        key = (row.priority, row.score if row.score is not None else -1.0)
        if row.claimed_at is not None and row.claimed_at.replace(tzinfo=None) == now:
            claimed[row.debtor_phone] = max(claimed.get(row.debtor_phone, key), key)
        elif row.blocked_rule == DAILY_RECIPIENTS and row.status == "planned":
            held.append(key)
    return claimed, held


def test_the_budget_binds_and_the_debtors_are_scored_every_day(
    runs: dict[str, tuple[SimulationReport, str]], model: TrainedModel
) -> None:
    for order, (report, url) in runs.items():
        assert report.violations == []
        assert report.order == order and report.daily_recipients == BUDGET
        assert report.model_id == model.model_id
        assert report.blocked[DAILY_RECIPIENTS] > report.messages_sent  # it binds
        scored_days = {day for _, day in _probabilities(url)}
        # Each morning scores the day that ended; the first morning, the day before the start.
        first = START.date() - timedelta(days=1)
        assert scored_days == {first + timedelta(days=k) for k in range(DAYS)}
        assert report.scored == len(_probabilities(url))
        assert report.as_dict()["order"] == order


def test_ordered_by_score_the_rows_carry_the_debtors_score_of_the_day_before(
    runs: dict[str, tuple[SimulationReport, str]],
) -> None:
    _, url = runs["score"]
    probabilities = _probabilities(url)
    rows = _rows(url)
    copied = 0
    for row in rows:
        planned_day = row.created_at.replace(tzinfo=timezone.utc).astimezone(CDMX).date()
        expected = probabilities.get((row.debtor_phone, planned_day - timedelta(days=1)))
        assert row.score == expected
        copied += expected is not None
    assert copied > len(rows) * 0.9


def test_ordered_by_score_the_budget_goes_to_the_higher_scores_first(
    runs: dict[str, tuple[SimulationReport, str]], new_database: NewDatabase
) -> None:
    _, url = runs["score"]
    rows, due = _one_more_round(new_database, url, ROUND)
    claimed, held = _claimed_and_held(rows, due, ROUND)
    assert claimed and held  # some were sent, the budget held others back
    # Every debtor reached ranks at or above every row held back: by priority, then score
    # (so within one priority, every score sent ≥ every score held).
    assert min(claimed.values()) >= max(held)
    for priority in {p for p, _ in held}:
        sent_scores = [s for p, s in claimed.values() if p == priority]
        held_scores = [s for p, s in held if p == priority]
        assert not sent_scores or min(sent_scores) >= max(held_scores)


def test_at_random_the_rows_carry_seeded_numbers_and_the_sends_differ(
    runs: dict[str, tuple[SimulationReport, str]], new_database: NewDatabase
) -> None:
    _, score_url = runs["score"]
    _, random_url = runs["random"]
    probabilities = _probabilities(random_url)
    rows = _rows(random_url)
    assert all(row.score is not None and 0 <= row.score < 1 for row in rows)
    same = sum(
        1
        for row in rows
        if row.score
        == probabilities.get(
            (
                row.debtor_phone,
                row.created_at.replace(tzinfo=timezone.utc).astimezone(CDMX).date()
                - timedelta(days=1),
            )
        )
    )
    assert same == 0  # not the debtor's score: the order is not the model's
    sent = {
        (r.debtor_phone, r.campaign, r.step, r.planned_on)
        for r in _rows(score_url)
        if r.wamid is not None
    }
    sent_at_random = {
        (r.debtor_phone, r.campaign, r.step, r.planned_on) for r in rows if r.wamid is not None
    }
    assert sent != sent_at_random
    # The same extra round reaches other debtors than the score-ordered one.
    after, due = _one_more_round(new_database, random_url, ROUND)
    claimed_at_random, held = _claimed_and_held(after, due, ROUND)
    score_after, score_due = _one_more_round(new_database, score_url, ROUND)
    claimed_by_score, _ = _claimed_and_held(score_after, score_due, ROUND)
    assert claimed_at_random and held
    assert set(claimed_at_random) != set(claimed_by_score)
    # Judged by the model's own probabilities, the random round passed over someone better.
    latest = max(day for _, day in probabilities)
    by_model = {phone: p for (phone, day), p in probabilities.items() if day == latest}
    inversions = [
        (row.debtor_phone, sent)
        for row in after
        if row.id in due and row.status == "planned" and row.blocked_rule == DAILY_RECIPIENTS
        for sent in claimed_at_random
        if claimed_at_random[sent][0] == row.priority
        and by_model[row.debtor_phone] > by_model[sent]
    ]
    assert inversions


def test_the_random_order_is_reproducible(
    runs: dict[str, tuple[SimulationReport, str]], model: TrainedModel, new_database: NewDatabase
) -> None:
    report, _ = runs["random"]
    again = simulate(
        DAYS,
        DEBTORS,
        SEED,
        start=START,
        database_url=new_database(),
        daily_recipients=BUDGET,
        model=model,
        order="random",
    )
    assert again.as_dict() == report.as_dict()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"order": "score"}, "--order score necesita --model"),
        ({"order": "sideways"}, "--order debe ser uno de: score, random"),
        ({"order": "SCORE"}, "--order debe ser uno de"),
        ({"daily_recipients": 0}, "--daily-recipients debe ser al menos 1"),
        ({"daily_recipients": -5}, "--daily-recipients debe ser al menos 1"),
    ],
)
def test_inconsistent_options_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SimulationError, match=message):
        simulate(2, 10, 1, **kwargs)  # type: ignore[arg-type]


def test_the_cli_refuses_inconsistent_options(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: TrainedModel
) -> None:
    assert main(["simulate", "--days", "1", "--debtors", "7", "--order", "score"]) == 1
    assert "--order score necesita --model" in capsys.readouterr().err
    for argv in (
        ["--order", "best"],
        ["--daily-recipients", "0"],
        ["--daily-recipients", "abc"],
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(["simulate", "--days", "1", *argv])
        assert exit_info.value.code == 2
    capsys.readouterr()
    # A directory with no model, and a tampered model file: refused before any simulated day.
    assert main(["simulate", "--days", "1", "--model", str(tmp_path / "nada")]) == 1
    assert "no hay modelo activo" in capsys.readouterr().err
    directory = tmp_path / "modelo"
    save(model, directory)
    skops_file = directory / f"{model.model_id}.skops"
    skops_file.write_bytes(skops_file.read_bytes() + b"x")
    assert main(["simulate", "--days", "1", "--model", str(directory)]) == 1
    assert "SHA-256" in capsys.readouterr().err


def test_the_cli_runs_the_experiment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, model: TrainedModel
) -> None:
    directory = tmp_path / "modelo"
    save(model, directory)
    argv = ["simulate", "--days", "1", "--debtors", "30", "--seed", "3", "--json"]
    argv += ["--daily-recipients", "5", "--model", str(directory), "--order", "random"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["order"] == "random" and data["daily_recipients"] == 5
    assert data["model_id"] == model.model_id and data["scored"] > 0
    assert data["messages_sent"] <= 5
