"""End to end: the trained model, scripts/run.sh (what `make run` starts) bringing up the action
server and Rasa, real conversations over the REST channel checked in the database, and Ctrl-C
stopping both."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone
from datetime import time as clock_time
from decimal import Decimal
from itertools import pairwise
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cobranza import db
from cobranza.db import verifications
from cobranza.db.models import (
    AuditLog,
    Consent,
    ContactBlock,
    HandoffTicket,
    PaymentAgreement,
    Promise,
)
from cobranza.domain.vocabulary import AuditAction
from cobranza.testing.servers import Servers, port_open, running_servers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def servers(model: Path, database_url: str) -> Iterator[Servers]:
    with running_servers(database_url, model) as running:
        yield running


GUADALAJARA = ZoneInfo("America/Mexico_City")
DAYS = ("lunes", "martes", "miércoles", "jueves", "viernes", "sábado", "domingo")
MONTHS = (
    "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre"
).split()


def spoken(day: date) -> str:
    return f"{DAYS[day.weekday()]} {day.day} de {MONTHS[day.month - 1]}"


def expected_reminder(now: datetime) -> str:
    """What the assistant says after a promise for "el miércoles" made at `now` (the servers run
    on the wall clock): the next Wednesday strictly after today, reminded at the next step of
    campaigns/recordatorio_promesa.yml (10:00 the day before, else 09:00 on the day), else
    "muy pronto"."""
    wednesday = now.date() + timedelta(days=(2 - now.weekday() - 1) % 7 + 1)
    for day, at in ((wednesday - timedelta(days=1), clock_time(10)), (wednesday, clock_time(9))):
        if datetime.combine(day, at, tzinfo=now.tzinfo) > now:
            return f"{spoken(day)} a las {at:%H:%M}"
    return f"{spoken(wednesday)}, ya muy pronto"


def texts(replies: list[dict]) -> str:
    return "\n".join(str(r.get("text", "")) for r in replies)


def identify(servers: Servers, sender: str, first: str, phone: str, birth: str) -> str:
    """A REST conversation identifies like the web chat: a debt topic asks for the number,
    then the date of birth; nothing is disclosed before both match. Returns the last reply."""
    asked = texts(servers.say(sender, first))
    assert "número de celular a 10 dígitos" in asked and "$" not in asked
    asked = texts(servers.say(sender, phone))
    assert "fecha de nacimiento" in asked and "$" not in asked
    return texts(servers.say(sender, birth))


def test_greeting_discloses_nothing_and_asks_for_number_and_birth_date(servers: Servers) -> None:
    replies = texts(servers.say("maria", "hola buenas tardes"))
    assert "Cobranza Demo" in replies and "número de celular y tu fecha de nacimiento" in replies
    assert "$" not in replies and "CrediFácil" not in replies


def test_a_rest_caller_cannot_join_a_debtors_whatsapp_conversation(
    servers: Servers, database_url: str
) -> None:
    """The attack of issue #10: María is verified on WhatsApp (her tracker and the server-side
    record say so); a REST caller uses her WhatsApp id as sender and claims the WhatsApp
    channel. It gets a conversation of its own that asks for a number, and no balance."""
    import requests

    wa_id = "5215512345678"
    api = f"http://127.0.0.1:{servers.rasa_port}/conversations/{wa_id}/tracker/events"
    verified: list[dict[str, Any]] = [
        {
            "event": "user",
            "text": "12/03/1985",
            "input_channel": "whatsapp",
            "parse_data": {
                "text": "12/03/1985",
                "intent": {"name": "informar", "confidence": 1.0},
                "entities": [],
            },
        },
        {"event": "slot", "name": "identidad_verificada", "value": True},
        {"event": "slot", "name": "deudor_encontrado", "value": True},
    ]
    answer = requests.post(api, params={"token": servers.api_token}, json=verified, timeout=30)
    assert answer.status_code == 200, answer.text
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        verifications.record(
            session,
            wa_id,
            "whatsapp",
            "+525512345678",
            datetime.now(timezone.utc),
            timedelta(minutes=30),
        )
    engine.dispose()
    forged = requests.post(
        servers.rest_url,
        json={"sender": wa_id, "message": "cuanto debo", "input_channel": "whatsapp"},
        timeout=30,
    )
    reply = texts(forged.json())
    assert "número de celular a 10 dígitos" in reply, reply
    assert "$" not in reply and "8,450" not in reply
    assert all(r["recipient_id"] == f"rest:{wa_id}" for r in forged.json())


def test_rest_refuses_a_body_without_sender_or_message(servers: Servers) -> None:
    import requests

    for body in (
        {"message": "hola"},
        {"sender": "", "message": "hola"},
        {"sender": "x" * 65, "message": "hola"},
        {"sender": "ana"},
        {"sender": ["ana"], "message": "hola"},
    ):
        answer = requests.post(servers.rest_url, json=body, timeout=30)
        assert answer.status_code == 400, (body, answer.status_code)
    answer = requests.post(servers.rest_url, data=b"{no es json", timeout=30)
    assert answer.status_code == 400


def test_unknown_number_fails_like_a_wrong_date(servers: Servers) -> None:
    reply = identify(servers, "desconocido", "cuanto debo?", "55 0000 1111", "01/01/1990")
    assert "no coincide" in reply and "$" not in reply


def test_verification_balance_plan_and_promise(servers: Servers, database_url: str) -> None:
    sender = "juan-carlos"  # Juan Carlos, en_apuros, Tijuana
    balance = identify(servers, sender, "cuanto debo", "664 123 4567", "02/11/1979")
    assert "identidad confirmada" in balance and "$23,900.50" in balance and "47 días" in balance
    plans = servers.say(sender, "que opciones de pago tengo")
    buttons = [b for r in plans for b in r.get("buttons", [])]
    assert buttons and all(len(b["title"]) <= 20 for b in buttons)
    chosen = next(b for b in buttons if "pagos" in b["title"])
    confirmed = texts(servers.say(sender, chosen["payload"]))
    assert "folio CV-" in confirmed
    readback = texts(servers.say(sender, "te pago 2 mil pasado mañana"))
    assert "¿Confirmas $2,000.00" in readback
    recorded = texts(servers.say(sender, "si"))
    assert "folio PP-" in recorded
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        promise = session.execute(
            select(Promise).where(
                Promise.debtor_phone == "+526641234567", Promise.status == "pending"
            )
        ).scalar_one()
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.debtor_phone == "+526641234567")
        ).scalar_one()
    engine.dispose()
    assert promise.amount == Decimal("2000.00") and promise.folio in recorded
    assert agreement.folio in confirmed and agreement.channel == "rest"
    assert_every_action_ended_its_turn(servers, f"rest:{sender}")


def assert_every_action_ended_its_turn(servers: Servers, sender: str) -> None:
    """Our actions end the turn themselves (actions/base.py: end_of_turn): after each, Rasa
    listens on that follow-up instead of asking its policies again."""
    import requests

    url = f"http://127.0.0.1:{servers.rasa_port}/conversations/{sender}/tracker"
    events = requests.get(url, params={"token": servers.api_token}, timeout=10).json()["events"]
    actions = [e for e in events if e["event"] == "action"]
    ours = [
        (action, after)
        for action, after in pairwise(actions)
        if action["name"].startswith("action_")
        and action["name"] not in ("action_listen", "action_session_start")
    ]
    assert len(ours) >= 5
    for action, after in ours:
        assert (after["name"], after["policy"]) == ("action_listen", "followup_action"), action


def test_any_debt_topic_waits_for_identity_then_is_answered(servers: Servers) -> None:
    sender = "ana-sofia"
    wrong = identify(
        servers, sender, "me quede sin chamba y ando bien apretado", "998 123 4567", "01/01/1990"
    )
    assert "no coincide" in wrong and "2 intentos" in wrong
    answered = texts(servers.say(sender, "25 de julio de 1992"))
    assert (
        "identidad confirmada" in answered and "opciones" in answered and "$12,000.00" in answered
    )


def test_birth_date_first_and_a_promise_while_it_is_pending(
    servers: Servers, database_url: str
) -> None:
    """The date of birth right after the greeting is not asked again; while it is pending, a
    promise and a "sí" are no failed attempts, and the promise is read back once verified."""
    first = "fecha-primero"
    servers.say(first, "hola")
    asked = texts(servers.say(first, "30/01/1988"))
    assert "número de celular" in asked and "fecha de nacimiento" not in asked
    assert "identidad confirmada" in texts(servers.say(first, "81 1234 5678"))

    sender = "promete-antes"
    assert "número de celular" in texts(servers.say(sender, "cuanto debo"))
    assert "fecha de nacimiento" in texts(servers.say(sender, "656 123 4567"))
    for answer in ("te pago 2000 el viernes", "sí"):
        kept = texts(servers.say(sender, answer))
        assert "fecha de nacimiento" in kept and "intentos" not in kept, answer
    resumed = texts(servers.say(sender, "naci el 5 de mayo del 90"))
    assert "identidad confirmada" in resumed and "¿Confirmas $2,000.00" in resumed
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        failed = session.execute(
            select(AuditLog).where(
                AuditLog.action == AuditAction.IDENTITY_FAILED.value,
                AuditLog.debtor_phone.in_(["+528112345678", "+526561234567"]),
            )
        ).all()
    engine.dispose()
    assert failed == []


def test_reminder_asks_consent_with_the_privacy_notice_first(
    servers: Servers, database_url: str
) -> None:
    sender = "patricia"  # no consent on record
    assert "identidad confirmada" in identify(
        servers, sender, "cuanto debo", "33 1234 5678", "14/09/1970"
    )
    assert "¿Confirmas $1,000.00" in texts(servers.say(sender, "te pago mil el miercoles"))
    recorded = texts(servers.say(sender, "si"))
    assert "folio PP-" in recorded and "recuérdame" in recorded
    notice = servers.say(sender, "recuerdame un dia antes")
    assert "Aviso de privacidad simplificado" in texts(notice) and "aviso-de-privacidad" in texts(
        notice
    )
    assert [b["title"] for r in notice for b in r.get("buttons", [])] == ["Sí, autorizo", "No"]
    granted = texts(servers.say(sender, "/afirmar"))
    assert "registré tu autorización" in granted
    assert expected_reminder(datetime.now(GUADALAJARA)) in granted
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        consent = session.execute(
            select(Consent).where(Consent.debtor_phone == "+523312345678")
        ).scalar_one()
        assert (consent.channel, consent.status) == ("whatsapp", "granted")
    engine.dispose()


def test_a_typed_number_reported_wrong_is_reviewed_not_blocked(
    servers: Servers, database_url: str
) -> None:
    """A stranger types Luis Ortega's number and says it is a wrong number: a report for an
    agent, the conversation stops, and Luis is not blocked."""
    sender = "extrano"
    assert "número de celular" in texts(servers.say(sender, "cuanto debo"))
    assert "fecha de nacimiento" in texts(servers.say(sender, "656 123 4567"))
    reported = texts(servers.say(sender, "numero equivocado"))
    assert "revisará tu reporte" in reported and "$" not in reported
    assert servers.say(sender, "y cuanto debe?") == [], "the conversation is paused"
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        blocks = session.execute(
            select(ContactBlock).where(ContactBlock.phone == "+526561234567")
        ).all()
        ticket = session.execute(
            select(HandoffTicket).where(HandoffTicket.sender_id == f"rest:{sender}")
        ).scalar_one()
        assert blocks == [] and ticket.reason == "reporte_sin_verificar"
    engine.dispose()


def test_opt_out_keyword_whatever_the_model_says(servers: Servers) -> None:
    reply = texts(servers.say("5218112345678", "STOP"))
    assert "no volveremos a enviarte mensajes" in reply


def test_the_http_api_needs_the_token(servers: Servers) -> None:
    import requests

    url = f"http://127.0.0.1:{servers.rasa_port}/conversations/5215512345678/tracker"
    assert requests.get(url, timeout=10).status_code == 401
    assert requests.get(url, params={"token": "adivina"}, timeout=10).status_code == 401
    tracker = requests.get(url, params={"token": servers.api_token}, timeout=10)
    assert tracker.status_code == 200 and tracker.json()["sender_id"] == "5215512345678"


def test_a_number_given_unasked_and_a_typed_plan_choice(
    servers: Servers, database_url: str
) -> None:
    """ "hola" → the number, unasked: the date of birth comes next. After the plans, "la
    segunda" chooses the second offer as its button would."""
    sender = "escribe-todo"
    servers.say(sender, "hola")
    asked = texts(servers.say(sender, "81 1234 5678"))
    assert "fecha de nacimiento" in asked and "$" not in asked
    assert "identidad confirmada" in texts(servers.say(sender, "30/01/1988"))
    plans = servers.say(sender, "que opciones tengo")
    buttons = [b for r in plans for b in r.get("buttons", [])]
    assert len(buttons) >= 2
    chosen = texts(servers.say(sender, "la segunda"))
    assert "folio CV-" in chosen
    engine = db.make_engine(database_url)
    with db.session_scope(db.make_session_factory(engine)) as session:
        agreement = session.execute(
            select(PaymentAgreement).where(PaymentAgreement.debtor_phone == "+528112345678")
        ).scalar_one()
        folio, kind, count = agreement.folio, agreement.plan_type, len(agreement.installments)
    engine.dispose()
    assert folio in chosen
    second = buttons[1]["title"]  # the agreement is the second button's offer
    if kind == "installments":
        assert second.startswith(f"{count} pagos"), (second, count)
    else:
        assert "pagos" not in second, (second, kind)


def test_both_servers_keep_their_start_up_objects_out_of_the_collector(servers: Servers) -> None:
    """Rasa once its model is loaded, the action server once its actions are: without it, a full
    pass of the garbage collector stalls a loaded Rasa for about half a second
    (cobranza/collector.py)."""
    log = servers.log.read_text(errors="replace")
    frozen = {
        server: int(count)
        for server, count in re.findall(
            r"(rasa|action server): (\d+) objects from start-up kept out", log
        )
    }
    assert frozen.keys() == {"rasa", "action server"}, log[-3000:]
    assert frozen["rasa"] > 500_000  # TensorFlow and the model
    assert frozen["action server"] > 50_000


def test_ctrl_c_stops_every_server(servers: Servers) -> None:
    servers.interrupt()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (
        port_open(servers.rasa_port)
        or port_open(servers.actions_port)
        or port_open(servers.console_port)
    ):
        time.sleep(0.5)
    assert not any(
        port_open(p) for p in (servers.rasa_port, servers.actions_port, servers.console_port)
    )
