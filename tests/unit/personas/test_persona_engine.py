from dataclasses import replace
from decimal import Decimal

import pytest

from cobranza.personas.engine import DebtorFacts, assign_persona

BASE = DebtorFacts(
    days_past_due=10,
    balance=Decimal("5000.00"),
    broken_promises_90d=0,
    kept_promises_90d=0,
    discount_requests=0,
    on_time_payments_12m=8,
    late_payments_12m=0,
    hardship_declared=False,
)


@pytest.mark.parametrize(
    ("changes", "persona"),
    [
        ({}, "olvidadizo"),
        ({"days_past_due": 30}, "olvidadizo"),
        ({"days_past_due": 31}, "estandar"),
        ({"on_time_payments_12m": 2}, "estandar"),
        ({"late_payments_12m": 3}, "estandar"),
        ({"broken_promises_90d": 1}, "estandar"),
        ({"broken_promises_90d": 2}, "reincidente"),
        ({"discount_requests": 2}, "negociador"),
        ({"discount_requests": 2, "broken_promises_90d": 3}, "reincidente"),
        ({"hardship_declared": True}, "en_apuros"),
        ({"hardship_declared": True, "broken_promises_90d": 4}, "en_apuros"),
        ({"days_past_due": 200, "on_time_payments_12m": 0}, "estandar"),
    ],
)
def test_assignment_follows_the_profiles(profiles: dict, changes: dict, persona: str) -> None:
    assert assign_persona(replace(BASE, **changes), profiles).persona == persona


def test_explanation_shows_every_persona_tried_and_why(profiles: dict) -> None:
    assignment = assign_persona(replace(BASE, discount_requests=3, days_past_due=75), profiles)
    lines = assignment.explain()
    assert lines[0].startswith("en_apuros (prioridad 100): no aplica")
    assert "hardship_declared = sí: no ✗" in lines[0]
    assert lines[1].startswith("reincidente (prioridad 90): no aplica")
    assert lines[-1] == "negociador (prioridad 80): aplica — discount_requests ≥ 2: 3 ✓"
    data = assignment.as_dict()
    assert data["persona"] == "negociador" and len(data["trials"]) == 3


def test_fallback_is_explained(profiles: dict) -> None:
    assignment = assign_persona(replace(BASE, days_past_due=95, on_time_payments_12m=0), profiles)
    assert assignment.persona == "estandar"
    assert (
        assignment.explain()[-1] == "estandar: asignada por defecto (ninguna otra persona aplica)"
    )
    assert "days_past_due ≤ 30: 95 ✗" in assignment.explain()[-2]
