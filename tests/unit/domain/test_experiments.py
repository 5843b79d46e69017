"""Experiment definitions: stable assignment by hash, its distribution and independence, the
plan, and the checks of a definition (pure; the files are tests/unit/outreach)."""

from __future__ import annotations

import copy
import hashlib
from collections import Counter
from typing import Any

import pytest
from scipy import stats

from cobranza.domain.experiments import (
    MAX_PLANNED_PER_ARM,
    REPLY_WINDOW_DAYS,
    Arm,
    CampaignStepTarget,
    Experiment,
    Metric,
    ResponseTarget,
    ResponseUse,
    assign,
    bucket,
    build_experiment,
    definition_problems,
    reference_problems,
)
from cobranza.domain.statistics import Outcome, sample_size_per_arm

IDS = [f"+52{5500000000 + 7919 * i}" for i in range(100_000)]  # 100k distinct phones

DATA: dict[str, Any] = {
    "name": "primer_aviso_prueba",
    "description": "Una  prueba\n del primer aviso.",
    "enabled": True,
    "target": {"campaign": "temprana", "step": "primer_aviso"},
    "arms": [
        {"name": "control", "variant": "aviso", "weight": 50},
        {"name": "b", "variant": "aviso_b", "weight": 30},
        {"name": "c", "variant": "aviso_c", "weight": 20},
    ],
    "metric": "reply_rate",
    "window_days": 3,
    "baseline_rate": 0.15,
    "minimum_effect": 0.03,
}


def data(**changes: Any) -> dict[str, Any]:
    result = copy.deepcopy(DATA)
    result.update(changes)
    return result


def experiment(**changes: Any) -> Experiment:
    return build_experiment(data(**changes), source="experiments/prueba.yml")


# --- assignment ----------------------------------------------------------------------------


def test_bucket_is_the_sha256_of_name_and_id() -> None:
    """Pinned values: a change to the hash would move every debtor of a running experiment."""
    assert bucket("primer_aviso_asistente", "+525512345678") == 74
    assert bucket("primer_aviso_asistente", "+528112345678") == 28
    assert bucket("otro", "+525512345678") == 79
    digest = hashlib.sha256(b"x:+525500000000").digest()
    assert bucket("x", "+525500000000") == int.from_bytes(digest[:8], "big") % 100


def test_the_same_debtor_always_gets_the_same_arm() -> None:
    first, again = experiment(), experiment()  # two loads of the same definition
    arms = [first.assign(debtor) for debtor in IDS[:2000]]
    assert arms == [assign(again, debtor) for debtor in IDS[:2000]]
    assert arms == [first.assign(debtor) for debtor in IDS[:2000]]


def test_the_arms_take_the_buckets_in_order() -> None:
    exp = experiment()
    for debtor in IDS[:500]:
        b = bucket(exp.name, debtor)
        expected = "control" if b < 50 else "b" if b < 80 else "c"
        assert exp.assign(debtor).name == expected


def test_distribution_follows_the_weights() -> None:
    """50/30/20 over 100,000 debtors: each share within 1 point (≈ 5 standard errors), and a
    chi-square goodness-of-fit test does not reject."""
    exp = experiment()
    counts = Counter(exp.assign(debtor).name for debtor in IDS)
    shares = {arm: counts[arm] / len(IDS) for arm in ("control", "b", "c")}
    assert shares == pytest.approx({"control": 0.5, "b": 0.3, "c": 0.2}, abs=0.01)
    _chi2, p = stats.chisquare(
        [counts["control"], counts["b"], counts["c"]], [50_000, 30_000, 20_000]
    )
    assert p > 0.001


def test_a_skewed_allocation_too() -> None:
    exp = experiment(
        arms=[
            {"name": "control", "variant": "aviso", "weight": 95},
            {"name": "b", "variant": "aviso_b", "weight": 5},
        ]
    )
    share = sum(exp.assign(debtor).name == "b" for debtor in IDS) / len(IDS)
    assert share == pytest.approx(0.05, abs=0.004)


def test_experiments_are_independent() -> None:
    """Two 50/50 experiments: being in b of one says nothing of the other (each of the four
    cells a quarter, within a point; chi-square independence test does not reject)."""
    one = experiment(arms=one_arms())
    other = experiment(arms=one_arms(), name="otro_experimento")
    table = Counter((one.assign(d).name, other.assign(d).name) for d in IDS)
    cells = [[table[(a, b)] for b in ("control", "b")] for a in ("control", "b")]
    for row in cells:
        for cell in row:
            assert cell / len(IDS) == pytest.approx(0.25, abs=0.01)
    _chi2, p, _dof, _expected = stats.chi2_contingency(cells, correction=False)
    assert p > 0.001


def one_arms() -> list[dict[str, Any]]:
    return [
        {"name": "control", "variant": "aviso", "weight": 50},
        {"name": "b", "variant": "aviso_b", "weight": 50},
    ]


def test_weights_that_do_not_cover_every_bucket_are_a_bug() -> None:
    broken = Experiment(
        "roto",
        "",
        True,
        ResponseTarget("utter_x"),
        (Arm("control", "utter_x", 10), Arm("b", "utter_y", 10)),
        Metric.REPLY_RATE,
        3,
        0.1,
        0.05,
    )
    with pytest.raises(ValueError, match="do not sum"):
        for debtor in IDS[:200]:
            broken.assign(debtor)


# --- the plan and the verdict --------------------------------------------------------------


def test_the_plan_is_computed_from_the_definition() -> None:
    exp = experiment(alpha=0.01, power=0.9)
    assert exp.comparisons == 2
    assert exp.planned_per_arm == sample_size_per_arm(
        0.15, 0.03, alpha=0.01, power=0.9, comparisons=2
    )
    assert exp.planned_total == -(-exp.planned_per_arm * 100 // 20)  # c has 20%


def test_the_verdict_uses_the_plan_and_the_arms_in_order() -> None:
    exp = experiment(arms=one_arms())
    n = exp.planned_per_arm
    assert exp.verdict({"control": (10, 100)}).missing == (("control", n - 100), ("b", n))
    done = exp.verdict({"control": (int(n * 0.15), n), "b": (int(n * 0.22), n)})
    assert done.outcome is Outcome.WINS and done.winner == "b"


def test_build_reads_every_field() -> None:
    exp = build_experiment(
        data(target={"response": "utter_saldo"}, alpha=0.01, power=0.9, metric="payment_rate")
    )
    assert exp.target == ResponseTarget("utter_saldo")
    assert exp.description == "Una prueba del primer aviso."
    assert (exp.metric, exp.alpha, exp.power, exp.window_days) == (
        Metric.PAYMENT_RATE,
        0.01,
        0.9,
        3,
    )
    assert experiment().target == CampaignStepTarget("temprana", "primer_aviso")
    assert experiment().control == Arm("control", "aviso", 50)


# --- checks inside a definition ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"target": {"campaign": "temprana", "response": "utter_saldo"}},
            "target: usa campaign + step (un paso de campaña) o response (una respuesta), no ambos",
        ),
        (
            {"target": {"campaign": "temprana"}},
            "target: falta campaign y step (un paso de campaña) o response (una respuesta)",
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso", "weight": 50},
                    {"name": "control", "variant": "aviso_b", "weight": 50},
                ]
            },
            "arms: el brazo 'control' está repetido; cada nombre una vez",
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso", "weight": 50},
                    {"name": "b", "variant": "aviso", "weight": 50},
                ]
            },
            "arms: la variante 'aviso' está en dos brazos; cada brazo prueba una distinta",
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso", "weight": 50},
                    {"name": "b", "variant": "aviso_b", "weight": 40},
                ]
            },
            "arms: los pesos suman 90 (50 + 40); deben sumar 100",
        ),
        (
            {"baseline_rate": 0.5, "minimum_effect": 0.5},
            "minimum_effect: 0.5 desde baseline_rate 0.5 sale de 0–1 en ambos sentidos; "
            "no hay cambio posible de ese tamaño",
        ),
        (
            {"target": {"response": "utter_saldo"}},
            "metric: reply_rate cuenta respuestas a un mensaje de campaña; para una respuesta "
            "de la conversación usa promise_rate, promise_kept_rate o payment_rate",
        ),
        (
            {"window_days": 8},
            "window_days: con reply_rate la ventana es de 1 a 7 días: una respuesta se registra "
            "si contesta un mensaje de campaña de los últimos 7 días",
        ),
    ],
)
def test_definition_problems(changes: dict[str, Any], expected: str) -> None:
    assert definition_problems(data(**changes)) == [expected]


def test_a_plan_that_would_never_end() -> None:
    (problem,) = definition_problems(data(baseline_rate=0.5, minimum_effect=0.001))
    needed = sample_size_per_arm(0.5, 0.001, comparisons=2)
    assert needed > MAX_PLANNED_PER_ARM
    assert problem.startswith(f"minimum_effect: con 0.001 harían falta {needed:,} deudores")


def test_every_problem_at_once() -> None:
    problems = definition_problems(
        data(
            target={},
            arms=[
                {"name": "a", "variant": "x", "weight": 60},
                {"name": "a", "variant": "x", "weight": 60},
            ],
        )
    )
    assert [p.split(":")[0] for p in problems] == ["target", "arms", "arms", "arms"]


def test_a_good_definition_has_no_problem() -> None:
    assert definition_problems(data()) == []
    assert definition_problems(data(window_days=REPLY_WINDOW_DAYS)) == []
    assert definition_problems(data(metric="payment_rate", window_days=90)) == []


def test_the_reply_window_is_the_one_replies_are_recorded_in() -> None:
    from cobranza.outreach.replies import REPLY_WINDOW

    assert REPLY_WINDOW.days == REPLY_WINDOW_DAYS and REPLY_WINDOW.seconds == 0


# --- what a definition names ---------------------------------------------------------------

STEPS = {"temprana": {"primer_aviso": "aviso", "seguimiento": "seguimiento"}}
# Each template's parameters; None: a template file that is broken (reported on its own).
TEMPLATES: dict[str, tuple[str, ...] | None] = {
    "aviso": ("nombre",),
    "aviso_b": ("nombre",),
    "aviso_c": (),  # a variant may leave a value out
    "aviso_d": ("nombre", "producto"),
    "aviso_roto": None,
    "seguimiento": ("nombre",),
}
# Each response's placeholders.
RESPONSES = {
    "utter_saldo": {"saldo", "contrato"},
    "utter_saldo_breve": {"saldo"},
    "utter_saldo_largo": {"saldo", "total"},
    "utter_saldo_otro": {"saldo"},
    "utter_motivo_cuenta": set(),
    "utter_motivo_cuenta_b": set(),
    "utter_saludo": set(),
    "utter_saludo_b": set(),
    "utter_despedida_b": set(),
}
USE = ResponseUse(
    by_actions=frozenset({"utter_saldo", "utter_saldo_otro"}),
    action_prefixes=("utter_motivo_",),
    by_rasa={"utter_saludo": "data/rules/conversacion.yml"},
)


def references(exp: Experiment) -> list[str]:
    return reference_problems(
        exp, campaign_steps=STEPS, templates=TEMPLATES, responses=RESPONSES, response_use=USE
    )


def on_response(target: str, *variants: str) -> Experiment:
    arms = [{"name": "control", "variant": target, "weight": 50}]
    weight = 50 // len(variants)
    arms += [
        {"name": f"v{n}", "variant": v, "weight": weight + (50 - weight * len(variants)) * (n == 0)}
        for n, v in enumerate(variants)
    ]
    return experiment(target={"response": target}, arms=arms, metric="promise_rate")


def test_references_that_exist() -> None:
    assert references(experiment()) == []
    assert references(on_response("utter_saldo", "utter_saldo_breve")) == []


def test_a_template_variant_may_only_use_the_controls_values() -> None:
    fewer = experiment(
        arms=[
            {"name": "control", "variant": "aviso", "weight": 50},
            {"name": "sin_nombre", "variant": "aviso_c", "weight": 50},
        ]
    )
    assert references(fewer) == []
    more = experiment(
        arms=[
            {"name": "control", "variant": "aviso", "weight": 50},
            {"name": "d", "variant": "aviso_d", "weight": 50},
        ]
    )
    assert references(more) == [
        "arms[2].variant: la plantilla 'aviso_d' usa 'producto', que 'aviso' no usa: cada "
        "variante solo recibe los valores del control (nombre)"
    ]
    broken = experiment(
        arms=[
            {"name": "control", "variant": "aviso", "weight": 50},
            {"name": "roto", "variant": "aviso_roto", "weight": 50},
        ]
    )
    assert references(broken) == []  # its file's problems are reported on their own


def test_a_response_variant_may_only_use_the_controls_values() -> None:
    assert references(on_response("utter_saldo", "utter_saldo_largo")) == [
        "arms[2].variant: la respuesta 'utter_saldo_largo' usa 'total', que 'utter_saldo' no "
        "usa: cada variante solo recibe los valores del control (contrato, saldo)"
    ]


def test_only_a_response_an_action_says_can_be_varied() -> None:
    assert references(on_response("utter_motivo_cuenta", "utter_motivo_cuenta_b")) == [
        # the target is said through f"utter_motivo_{kind}"; so may the variant be
        "arms[2].variant: 'utter_motivo_cuenta_b' ya se dice fuera del experimento (una "
        "acción); una variante existe solo para su experimento"
    ]
    assert references(on_response("utter_saludo", "utter_saludo_b")) == [
        "target.response: Rasa dice 'utter_saludo' por su cuenta (data/rules/conversacion.yml); "
        "solo se puede experimentar con respuestas que dice una acción (turn.say): Rasa 3.6 no "
        "elige variantes en reglas ni historias sin un servidor NLG (docs/experiments.md)"
    ]
    assert references(on_response("utter_saldo_breve", "utter_despedida_b")) == [
        "target.response: ninguna acción dice 'utter_saldo_breve' con turn.say(...); solo esas "
        "respuestas pueden cambiar de variante (docs/experiments.md)"
    ]
    assert references(on_response("utter_saldo", "utter_saldo_otro", "utter_saludo")) == [
        "arms[2].variant: 'utter_saldo_otro' ya se dice fuera del experimento (una acción); "
        "una variante existe solo para su experimento",
        "arms[3].variant: 'utter_saludo' ya se dice fuera del experimento "
        "(data/rules/conversacion.yml); una variante existe solo para su experimento",
    ]


def test_who_says_a_response() -> None:
    assert USE.said_by_an_action("utter_saldo") and USE.said_by_an_action("utter_motivo_x")
    assert not USE.said_by_an_action("utter_saludo")
    assert USE.said_elsewhere("utter_saludo") == "data/rules/conversacion.yml"
    assert USE.said_elsewhere("utter_saldo_breve") is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"target": {"campaign": "tardia", "step": "primer_aviso"}},
            ["target.campaign: la campaña 'tardia' no existe (hay: temprana)"],
        ),
        (
            {"target": {"campaign": "temprana", "step": "ultimo"}},
            [
                "target.step: la campaña temprana no tiene el paso 'ultimo' "
                "(pasos: primer_aviso, seguimiento)"
            ],
        ),
        (
            {
                "arms": [
                    {"name": "control", "variant": "aviso_b", "weight": 50},
                    {"name": "b", "variant": "aviso_z", "weight": 50},
                ]
            },
            [
                "arms[1].variant: el primer brazo es el control y debe ser lo que hoy se usa en "
                "paso temprana.primer_aviso: 'aviso', no 'aviso_b'",
                "arms[2].variant: la plantilla 'aviso_z' no existe en templates/",
            ],
        ),
        (
            {
                "target": {"response": "utter_despedida"},
                "arms": [
                    {"name": "control", "variant": "utter_despedida", "weight": 50},
                    {"name": "b", "variant": "utter_saldo_breve", "weight": 50},
                ],
                "metric": "promise_rate",
            },
            ["target.response: la respuesta 'utter_despedida' no existe en domain.yml"],
        ),
        (
            {
                "target": {"response": "utter_saldo"},
                "arms": [
                    {"name": "control", "variant": "utter_saldo", "weight": 50},
                    {"name": "b", "variant": "aviso_b", "weight": 50},
                ],
                "metric": "promise_rate",
            },
            ["arms[2].variant: la respuesta 'aviso_b' no existe en domain.yml"],
        ),
    ],
)
def test_reference_problems(changes: dict[str, Any], expected: list[str]) -> None:
    assert references(experiment(**changes)) == expected
