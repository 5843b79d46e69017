"""Every response an action names exists in domain.yml, and every action is declared there."""

from __future__ import annotations

import re

from cobranza.config import PROJECT_ROOT
from cobranza.personas.offers import PLAN_INSTALLMENTS, PLAN_PAY_IN_FULL, PLAN_SETTLEMENT
from cobranza.services.promises import (
    AMOUNT_ABOVE_BALANCE,
    AMOUNT_NOT_POSITIVE,
    DATE_BEYOND_HORIZON,
    DATE_IN_PAST,
)
from tests.support.actions import Domain


def test_responses_named_in_actions_exist(domain: Domain) -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "actions").glob("*.py")
    )
    # "utter_action" is Rasa's key in a bot event's metadata (the response it came from)
    named = set(re.findall(r'"(utter_[a-z_]+)"', source)) - {"utter_action"}
    named |= {f"utter_oferta_{t}" for t in (PLAN_PAY_IN_FULL, PLAN_SETTLEMENT, PLAN_INSTALLMENTS)}
    named |= {f"utter_titulo_{t}" for t in (PLAN_PAY_IN_FULL, PLAN_SETTLEMENT, PLAN_INSTALLMENTS)}
    named |= {
        f"utter_promesa_{r}"
        for r in (AMOUNT_ABOVE_BALANCE, AMOUNT_NOT_POSITIVE, DATE_BEYOND_HORIZON, DATE_IN_PAST)
    }
    missing = named - set(domain["responses"])
    assert not missing, missing


def test_every_action_class_is_in_the_domain(domain: Domain) -> None:
    source = "\n".join(
        p.read_text(encoding="utf-8") for p in (PROJECT_ROOT / "actions").glob("*.py")
    )
    names = set(re.findall(r'return "(action_[a-z_]+)"', source))
    assert names == set(domain["actions"])
