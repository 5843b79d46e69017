"""The campaigns, templates and experiments in the repository validate and say what
docs/outreach.md and docs/experiments.md say."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from cobranza.compliance.conduct import scan_texts
from cobranza.config import PROJECT_ROOT
from cobranza.domain.delinquency import BUCKETS
from cobranza.domain.experiments import CampaignStepTarget, Metric, ResponseTarget
from cobranza.outreach.campaigns import by_priority
from cobranza.outreach.experiments import load_designs
from cobranza.outreach.schedule import DebtorFacts, due_steps
from cobranza.outreach.templates import SAMPLE_VALUES, domain_intents, preview
from cobranza.personas.profiles import load_profiles
from cobranza.responses import first_texts

DESIGNS = load_designs(
    PROJECT_ROOT / "campaigns",
    PROJECT_ROOT / "templates",
    PROJECT_ROOT / "experiments",
    personas=set(load_profiles(PROJECT_ROOT / "persona_profiles")),
    intents=domain_intents(PROJECT_ROOT / "domain.yml"),
)
CAMPAIGNS, TEMPLATES, EXPERIMENTS = DESIGNS.campaigns, DESIGNS.templates, DESIGNS.experiments


def test_every_bucket_has_an_enabled_campaign() -> None:
    covered = {b for c in CAMPAIGNS.values() if c.enabled for b in c.audience.buckets}
    assert covered == set(BUCKETS)


def test_the_default_cadence() -> None:
    """1-30: dpd 1 (48 h), 5, then weekly; 31-60 and 61-90 weekly; 90+ every 14 days."""
    day = date(2026, 3, 10)

    def fired(dpd: int) -> list[str]:
        facts = DebtorFacts("+525512345678", "estandar", dpd, Decimal("5000"), (), ())
        return [
            f"{d.campaign}.{d.step}" for c in CAMPAIGNS.values() for d in due_steps(c, facts, day)
        ]

    schedule = {dpd: fired(dpd) for dpd in range(0, 200)}
    sent = {dpd: steps for dpd, steps in schedule.items() if steps}
    assert sent[1] == ["temprana_1_30.primer_aviso"]
    assert [d for d in sent if d <= 30] == [1, 5, 12, 19, 26]
    assert [d for d in sent if 31 <= d <= 60] == [31, 38, 45, 52, 59]
    assert [d for d in sent if 61 <= d <= 90] == [61, 68, 75, 82, 89]
    assert [d for d in sent if d > 90] == list(range(91, 200, 14))
    assert all(len(steps) == 1 for steps in sent.values())
    first = next(s for s in CAMPAIGNS["temprana_1_30"].steps if s.name == "primer_aviso")
    assert first.valid_for.total_seconds() == 48 * 3600


def test_commitment_campaigns_come_first() -> None:
    order = [c.name for c in by_priority(CAMPAIGNS)]
    assert order[:3] == ["recordatorio_promesa", "recordatorio_parcialidad", "promesa_incumplida"]


def test_every_template_is_used_and_reads_well() -> None:
    used = {s.template for c in CAMPAIGNS.values() for s in c.steps}
    used |= {
        arm.variant
        for e in EXPERIMENTS.values()
        if isinstance(e.target, CampaignStepTarget)
        for arm in e.arms
    }
    assert used == set(TEMPLATES)
    for template in TEMPLATES.values():
        text = preview(template, SAMPLE_VALUES)
        assert text.startswith("Hola María, ") and "{{" not in text
        assert "Cobranza Demo" in text  # who writes
        assert "responde" in text.lower() or "escríbenos" in text.lower()  # invites a reply
        assert scan_texts([(template.name, text)]) == []
        assert template.language == "es_MX" and template.category == "utility"


def test_the_shipped_experiments() -> None:
    """docs/experiments.md describes them: the first notice against Cobi's version, 50/50,
    reply rate 15% → ±3 points, α 0.05, power 0.8: 2,402 debtors an arm; and, switched off, the
    options' introduction in the conversation, payment rate 20% → ±5 points in 14 days."""
    assert sorted(EXPERIMENTS) == ["opciones_intro_directo", "primer_aviso_asistente"]
    experiment = EXPERIMENTS["primer_aviso_asistente"]
    assert experiment.enabled
    assert experiment.target == CampaignStepTarget("temprana_1_30", "primer_aviso")
    assert [(a.variant, a.weight) for a in experiment.arms] == [
        ("aviso_cuenta", 50),
        ("aviso_cuenta_asistente", 50),
    ]
    assert experiment.planned_per_arm == 2402 and experiment.planned_total == 4804
    on_response = EXPERIMENTS["opciones_intro_directo"]
    assert not on_response.enabled and on_response.metric is Metric.PAYMENT_RATE
    assert on_response.target == ResponseTarget("utter_opciones_intro")
    assert [a.variant for a in on_response.arms] == [
        "utter_opciones_intro",
        "utter_opciones_intro_directo",
    ]
    assert (on_response.planned_per_arm, on_response.window_days) == (1094, 14)
    texts = first_texts("utter_opciones_intro")
    assert scan_texts([(name, text) for name, text in texts.items()]) == []
