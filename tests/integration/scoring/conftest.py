"""Fixtures of the scoring tests: the demo portfolio on SQLite and PostgreSQL, and a synthetic
labelled set with a known signal (training on it takes seconds)."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.demo import portfolio
from cobranza.personas.profiles import PersonaProfile
from cobranza.scoring.features import FEATURE_NAMES
from cobranza.scoring.model import TrainedModel, train
from cobranza.scoring.snapshots import LabelledSet
from cobranza.services import views
from tests.support.clock import DEMO_TODAY, NOW

CREATED = datetime(2026, 11, 23, 6, 0, tzinfo=timezone.utc)
SOURCE = {"kind": "simulation", "simulated": True, "description": "conjunto sintético de prueba"}


@pytest.fixture
def demo(migrated_sessions: sessionmaker, profiles: dict[str, PersonaProfile]) -> sessionmaker:
    """The demo portfolio cut on DEMO_TODAY, personas assigned, on a fresh database."""
    with db.session_scope(migrated_sessions) as session:
        portfolio.load_demo(session, DEMO_TODAY)
        views.reassign_personas(session, profiles, FixedClock(NOW))
    return migrated_sessions


def synthetic(days: int = 40, debtors: int = 250, horizon: int = 5, seed: int = 3) -> LabelledSet:
    """Snapshots with every feature, labelled from a known logistic signal: paying falls with
    days past due and rises with recent payments, a pending promise and replies (features the
    baseline does not see), so a model that learns must beat it."""
    rng = random.Random(seed)
    out = LabelledSet(horizon, Decimal("0.10"), date(2026, 1, 1) + timedelta(days=days + horizon))
    people: list[dict[str, Any]] = []
    for k in range(debtors):
        people.append(
            {
                "phone": f"+5255{k:08d}",
                "dpd": rng.randint(1, 150),
                "payer": rng.random(),
                "persona": rng.choice(["estandar", "olvidadizo", "reincidente", "en_apuros"]),
                "zone": rng.choice(["America/Mexico_City", "America/Tijuana", "America/Cancun"]),
            }
        )
    for d in range(days):
        day = date(2026, 1, 1) + timedelta(days=d)
        for person in people:
            dpd = person["dpd"] + d
            payments = sum(rng.random() < 0.15 * person["payer"] for _ in range(3))
            promise = 1.0 if rng.random() < 0.1 + 0.3 * person["payer"] else 0.0
            replies = float(rng.random() < person["payer"] * 0.5)
            since = None if payments == 0 and rng.random() < 0.5 else float(rng.randint(0, 120))
            logit = -1.2 - dpd / 60 + 0.9 * payments + 1.2 * promise + 0.8 * replies
            logit += 0.6 if person["persona"] == "olvidadizo" else 0.0
            label = int(rng.random() < 1 / (1 + math.exp(-logit)))
            features: dict[str, float | str | None] = {name: 0.0 for name in FEATURE_NAMES}
            features.update(
                {
                    "days_past_due": float(dpd),
                    "bucket": "90+" if dpd > 90 else "61-90" if dpd > 60 else "1-60",
                    "balance": float(rng.randint(2000, 60000)),
                    "original_amount": 60000.0,
                    "balance_share": None,
                    "days_since_last_payment": since,
                    "payments_90d": float(payments),
                    "promise_pending": promise,
                    "replies_30d": replies,
                    "reply_rate_90d": None,
                    "days_since_last_reply": None,
                    "last_reply_hour": None,
                    "days_to_promise_due": None,
                    "last_contact_channel": "whatsapp",
                    "persona": person["persona"],
                    "time_zone": person["zone"],
                    "product": "Tarjeta de crédito",
                    "creditor": "credifacil",
                }
            )
            out.phones.append(str(person["phone"]))
            out.days.append(day)
            out.features.append(features)
            out.balances.append(Decimal("10000.00"))
            out.paid.append(Decimal("1000.00") if label else Decimal("0.00"))
            out.labels.append(label)
    return out


@pytest.fixture(scope="session")
def dataset() -> LabelledSet:
    return synthetic()


@pytest.fixture(scope="session")
def trained(dataset: LabelledSet) -> TrainedModel:
    return train(dataset, seed=7, source=SOURCE, created_at=CREATED)
