"""Who says each response (cobranza/outreach/utterances.py): our actions through ``turn.say``,
read from their source, or Rasa itself (rules, stories, its default actions, forms)."""

from __future__ import annotations

from pathlib import Path

from cobranza.outreach.utterances import (
    placeholders,
    read_response_use,
    said_by_actions,
    said_by_rasa,
)
from cobranza.responses import responses

ACTIONS = {
    "base.py": """
class Turn:
    def say(self, response, **values):
        self.dispatcher.utter_message(response=response, **values)
""",
    "menu.py": """
CHOOSE = "utter_elige"
NOT_A_RESPONSE = "texto"


def ask(turn, kind):
    turn.say("utter_hola")
    turn.say(
        CHOOSE,
        buttons=[],
    )
    turn.say(f"utter_motivo_{kind}", monto=1)
    turn.say(response="utter_por_nombre")
    turn.dispatcher.utter_message(response="utter_directo")  # no variant is picked here
    if turn.last_response == "utter_comparado":
        pass
""",
    "other.py": """
from actions.menu import CHOOSE as ELEGIR


def again(turn, response):
    turn.say(ELEGIR)
    turn.say(response)  # a variable: not followed
    turn.say(f"{response}_x")  # no fixed start
""",
}


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def test_what_the_actions_say_through_turn_say(tmp_path: Path) -> None:
    names, prefixes = said_by_actions(write(tmp_path / "actions", ACTIONS))
    assert names == {"utter_hola", "utter_elige", "utter_por_nombre"}
    assert prefixes == ("utter_motivo_",)


def test_what_rasa_says_itself(tmp_path: Path) -> None:
    data = tmp_path / "data"
    write(
        data / "rules",
        {
            "a.yml": "rules:\n- rule: hola\n  steps:\n  - intent: saludar\n"
            "  - action: utter_saludo\n  - action: action_algo\n",
        },
    )
    write(
        data / "stories",
        {"b.yml": "stories:\n- story: s\n  steps:\n  - intent: x\n  - action: utter_adios\n"},
    )
    write(data / "nlu", {"c.yml": "nlu:\n- intent: saludar\n  examples: |\n    - hola\n"})
    where = said_by_rasa(data, {"utter_ask_monto": [], "utter_saludo": []})
    assert where["utter_saludo"] == "data/rules/a.yml"
    assert where["utter_adios"] == "data/stories/b.yml"
    assert where["utter_ask_monto"] == "la pregunta de un formulario de Rasa"
    assert where["utter_default"] == "action_default_fallback de Rasa"
    assert "action_algo" not in where


def test_placeholders_of_every_variation() -> None:
    variations = [
        {
            "condition": [{"type": "slot", "name": "persona", "value": "{no}"}],
            "text": "Hola {nombre}, debes {saldo}",
        },
        {"text": "Saldo: { saldo }", "buttons": [{"title": "Pagar {monto}", "payload": "/pagar"}]},
    ]
    assert placeholders(variations) == {"nombre", "saldo", "monto"}
    assert placeholders([{"text": "sin valores"}]) == frozenset()


def test_the_projects_responses() -> None:
    domain = responses()
    use = read_response_use(domain)
    assert use.said_by_an_action("utter_saldo")
    assert use.said_by_an_action("utter_opciones_intro")
    # once said through utter_message, now through turn.say: they can be varied
    assert use.said_by_an_action("utter_elige_opcion")
    assert use.said_by_an_action("utter_elige_credito")
    assert use.said_by_an_action("utter_motivo_cuenta")  # f"utter_motivo_{kind}"
    assert use.by_rasa["utter_saludo"] == "data/rules/conversacion.yml"
    assert use.said_elsewhere("utter_error_tecnico") is None  # said outside any turn
    assert use.said_elsewhere("utter_opciones_intro_directo") is None  # the shipped variant
    assert placeholders(domain["utter_saldo"]) >= {"saldo", "contrato", "fecha_calculo"}
