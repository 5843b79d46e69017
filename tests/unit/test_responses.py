"""The one reader of domain.yml's responses outside Rasa."""

from __future__ import annotations

from pathlib import Path

import pytest

from cobranza import responses
from cobranza.config import ConfigError

DOMAIN = """
responses:
  utter_aviso:
    - text: "primero"
    - text: "segundo"
  utter_aviso_largo:
    - text: "otro"
  utter_no_soportado_audio:
    - text: "audio no"
  utter_no_soportado_otro:
    - text: "no lo leo"
  utter_solo_botones:
    - buttons: []
"""


@pytest.fixture
def domain(tmp_path: Path) -> Path:
    path = tmp_path / "domain.yml"
    path.write_text(DOMAIN, encoding="utf-8")
    return path


def test_the_first_text_of_a_response_and_not_a_longer_name(domain: Path) -> None:
    assert responses.text("utter_aviso", domain) == "primero"
    assert responses.text("utter_aviso_largo", domain) == "otro"


def test_a_missing_or_textless_response_stops_the_start_naming_it(domain: Path) -> None:
    for name in ("utter_no_existe", "utter_solo_botones"):
        with pytest.raises(ConfigError, match=name):
            responses.text(name, domain)


def test_responses_by_prefix(domain: Path) -> None:
    assert responses.first_texts("utter_no_soportado_", domain) == {
        "audio": "audio no",
        "otro": "no lo leo",
    }


def test_the_real_domain_has_what_the_channels_and_console_read() -> None:
    assert responses.text("utter_demasiados_mensajes")
    assert "otro" in responses.first_texts("utter_no_soportado_")
    assert responses.first_texts("utter_asesor_")
