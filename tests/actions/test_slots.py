"""The slot names the actions use (actions/slots.py) are exactly the slots domain.yml declares,
and the questions the assistant can wait on are exactly the values of ``esperando``."""

from __future__ import annotations

import yaml

from actions import slots
from cobranza.config import PROJECT_ROOT

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))


def test_every_slot_name_is_declared_in_the_domain_and_nothing_else() -> None:
    assert set(slots.ALL) == set(DOMAIN["slots"])


def test_every_module_constant_is_in_the_set() -> None:
    constants = {
        value
        for name, value in vars(slots).items()
        if name.isupper() and isinstance(value, str) and not name.startswith("_")
    }
    assert constants == set(slots.ALL)


def test_the_pending_questions_are_the_values_of_esperando() -> None:
    declared = DOMAIN["slots"][slots.ESPERANDO]
    assert declared["type"] == "categorical" and declared["influence_conversation"] is True
    assert [q.value for q in slots.Esperando] == declared["values"]


def test_a_question_reads_as_its_plain_value() -> None:
    assert str(slots.Esperando.FECHA_NACIMIENTO) == "fecha_nacimiento"
    assert slots.ask(slots.Esperando.TELEFONO) == {
        "event": "slot",
        "timestamp": None,
        "name": "esperando",
        "value": "telefono",
    }
    assert type(slots.ask(slots.Esperando.TELEFONO)["value"]) is str
