"""How ``cobranza outreach status`` and ``cobranza simulate`` print (pure formatting)."""

from __future__ import annotations

from typing import Any

from cobranza.cli import render
from cobranza.simulation.behaviour import ASSUMPTIONS_NOTICE


def test_outreach_status_prints_every_campaign_and_what_holds_it_back() -> None:
    # It used to build the lines and return nothing: the command printed "None".
    text = render.outreach_status(
        {
            "temprana_1_30": {
                "statuses": {"sent": 3, "planned": 2},
                "waiting_on": {"daily_cap": 2},
            }
        }
    )
    assert text == "temprana_1_30: planned 2, sent 3\n  esperando por: daily_cap 2"


def _funnel(n: int) -> dict[str, Any]:
    return {
        "debtors": n,
        "reached": n,
        "replied": 1,
        "right_party_model": 1,
        "promises": 1,
        "kept": 1,
        "broken": 0,
        "recovered": "1500.50",
    }


def _report(violations: list[str]) -> dict[str, Any]:
    return {
        "notice": ASSUMPTIONS_NOTICE,
        "days": 3,
        "debtors": 2,
        "seed": 1,
        "start": "2026-12-07T05:00:00-06:00",
        "weekdays_only": False,
        "zones": {"America/Tijuana": 1, "America/Mexico_City": 1},
        "total": _funnel(2),
        "by_bucket": {"1-30": _funnel(2)},
        "by_persona": {"estandar": _funnel(2)},
        "messages_sent": 4,
        "sent_by_campaign": {"temprana_1_30": 4},
        "blocked": {"daily_cap": 1},
        "dropped": {},
        "follow_ups_after_broken": 0,
        "opt_outs": 0,
        "payments": 1,
        "unmatched_payments": 0,
        "violations": violations,
        "wall_seconds": 1.5,
    }


def test_the_simulation_report_says_first_that_the_behaviour_is_assumed() -> None:
    text = render.simulation(_report([]))
    assert text.splitlines()[0] == (
        "Comportamiento simulado: supuestos del simulador, no datos de ningún acreedor."
    )
    assert "contacto titular*" in text and "$1,500.50" in text
    assert "Invariantes: 0 violaciones" in text


def test_violations_are_listed_and_a_long_list_is_cut() -> None:
    many = [f"violación {n}" for n in range(render.MAX_VIOLATIONS_SHOWN + 5)]
    text = render.simulation(_report(many))
    assert f"Invariantes: {len(many)} VIOLACIONES" in text
    assert "  - violación 0" in text and "… y 5 más" in text


def test_the_ordering_experiment_is_named_only_when_asked_for() -> None:
    assert "Experimento" not in render.simulation(_report([]))
    data = _report([]) | {
        "order": "random",
        "daily_recipients": 40,
        "model_id": "ptp-x",
        "scored": 900,
    }
    line = next(x for x in render.simulation(data).splitlines() if x.startswith("Experimento"))
    assert line == (
        "Experimento: presupuesto diario de 40 destinatarios; modelo ptp-x (900 puntajes); "
        "orden aleatorio dentro de cada prioridad"
    )
    only_budget = _report([]) | {
        "order": None,
        "daily_recipients": 5,
        "model_id": None,
        "scored": 0,
    }
    assert "Experimento: presupuesto diario de 5 destinatarios" in render.simulation(only_budget)
