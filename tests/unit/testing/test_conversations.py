"""The whole-conversation evaluation without servers: the conversation files and their loader,
the comparison of an outcome with what a file expects, the disclosure check, the buttons a turn
presses, and the database restore between conversations."""

from __future__ import annotations

import re
import sqlite3
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from cobranza.config import PROJECT_ROOT
from cobranza.domain.amounts import fold
from cobranza.testing.conversations import (
    AgreementRow,
    BotMessage,
    Choice,
    ConversationFileError,
    Exchange,
    Expectation,
    Outcome,
    Press,
    PromiseRow,
    Secret,
    compare,
    disclosures,
    graph_messages,
    load_conversations,
    missing_phrases,
    parse_file,
    pick,
    rest_messages,
    restore,
)
from cobranza.testing.date_expressions import parse as parse_date

TODAY = date(2026, 11, 18)  # a Wednesday
MARIA = "+525512345678"
FILE = Path("promesas.yml")

# --------------------------------------------------------------------------- the project's files


def test_the_project_conversations_load_and_cover_both_channels_in_every_flow() -> None:
    conversations = load_conversations()
    assert len(conversations) >= 60
    flows = {c.flow for c in conversations}
    assert len(flows) >= 8
    for flow in flows:
        assert {c.channel for c in conversations if c.flow == flow} == {"rest", "whatsapp"}, flow
    assert len({c.id for c in conversations}) == len(conversations)


def _training_examples() -> set[str]:
    examples: set[str] = set()
    for path in sorted((PROJECT_ROOT / "data" / "nlu").glob("*.yml")):
        for item in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in str(item.get("examples", "")).splitlines():
                text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", line.strip().removeprefix("- "))
                examples.add(_normal(text))
    return examples


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", fold(text)).split())


def test_no_turn_of_three_words_or_more_is_a_training_example() -> None:
    """The conversations are written apart from the training data (issue 12): a turn of three
    words or more copied from data/nlu/ would measure the model on what it memorised. Shorter
    ones ("hola", "si", "cuanto debo") and bare dates are bound to be in both."""
    examples = _training_examples()
    assert len(examples) > 500
    copied = [
        (c.id, turn)
        for c in load_conversations()
        for turn in c.turns
        if isinstance(turn, str)
        and len(turn.split()) >= 3
        and re.search(r"[a-z]", fold(turn))  # a date or a number alone may match
        and _normal(turn) in examples
    ]
    assert copied == []


# --------------------------------------------------------------------------- the loader

GOOD = """
conversations:
  - id: promesa-simple
    channel: whatsapp
    debtor: "+525512345678"
    turns: ["te pago 2 mil el viernes", "12/03/1985", "si", press: 2]
    expect:
      verified: true
      promise: {amount: "2000.00", due: next friday}
      said: ["folio"]
"""


def test_a_good_file() -> None:
    conversations, problems = parse_file(FILE, GOOD.replace("press: 2", "{press: 2}"))
    assert problems == []
    (conversation,) = conversations
    assert conversation.flow == "promesas" and conversation.channel == "whatsapp"
    assert conversation.turns[-1] == Press(2) and conversation.documented
    promise = conversation.expect.promise
    assert promise is not None and promise.amount == Decimal("2000.00")
    assert promise.due.on(TODAY) == date(2026, 11, 20)
    assert conversation.expect.agreement is None and conversation.expect.said == ("folio",)


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            "      verified: true\n",
            "",
            "promesas.yml: promesa-simple: expect: 'verified' is a required",
        ),
        (
            "channel: whatsapp",
            "channel: sms",
            "promesas.yml: promesa-simple: channel: 'sms' is not",
        ),
        ("due: next friday", "due: '2026-11-20'", "expect.promise.due: '2026-11-20' is not a date"),
        ("due: next friday", "due: 2026-11-20", "expect.promise.due: datetime.date(2026, 11, 20)"),
        ("due: next friday", "due: el viernes", "expect.promise.due: 'el viernes' is not a date"),
        ("said:", "says:", "promesa-simple: expect: Additional properties are not allowed"),
        ('amount: "2000.00"', "amount: 2000", "expect.promise.amount: 2000 is not of type"),
        ('"+525512345678"', '"+525500001111"', "+525500001111 is not a documented debtor"),
        ("  - id: promesa-simple\n", "  - id: Promesa Simple\n", "id: 'Promesa Simple' does not"),
        ("      verified: true\n", "      verified: true\n      persona: moroso\n", "'moroso'"),
        ("press: 2", "press: 0", "turns.3"),
    ],
)
def test_a_mistake_names_the_file_the_conversation_and_the_key(
    old: str, new: str, problem: str
) -> None:
    assert old in GOOD
    _, problems = parse_file(FILE, GOOD.replace(old, new))
    assert any(problem in p for p in problems), problems
    assert all(p.startswith("promesas.yml: ") for p in problems)


def test_not_yaml_is_reported_with_the_file() -> None:
    _, problems = parse_file(FILE, "conversations: [unclosed")
    assert problems and problems[0].startswith("promesas.yml: not YAML")


def test_a_conversation_without_an_id_is_named_by_its_position() -> None:
    _, problems = parse_file(FILE, GOOD.replace("  - id: promesa-simple\n", "  - \n"))
    assert any(p.startswith("promesas.yml: #1: (root)") or "#1: " in p for p in problems)


def test_the_directory_fails_with_every_problem_of_every_file(tmp_path: Path) -> None:
    (tmp_path / "uno.yml").write_text(GOOD, encoding="utf-8")
    (tmp_path / "dos.yml").write_text(GOOD, encoding="utf-8")  # the same id again
    (tmp_path / "tres.yml").write_text(GOOD.replace("whatsapp", "fax"), encoding="utf-8")
    with pytest.raises(ConversationFileError) as raised:
        load_conversations(tmp_path)
    problems = raised.value.problems
    assert any(p.startswith("uno.yml: promesa-simple: id: also used in dos.yml") for p in problems)
    assert any(p.startswith("tres.yml: promesa-simple: channel:") for p in problems)


def test_an_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConversationFileError, match="no conversation files"):
        load_conversations(tmp_path)


# --------------------------------------------------------------------------- the outcome


def _expect(text: str) -> Expectation:
    conversations, problems = parse_file(FILE, text)
    assert problems == []
    return conversations[0].expect


def _file(expect: str) -> str:
    return (
        "conversations:\n  - id: c\n    channel: rest\n"
        f'    debtor: "{MARIA}"\n    turns: ["hola"]\n    expect:\n'
        + "".join(f"      {line}\n" for line in expect.strip().splitlines())
    )


def _compare(expect: str, outcome: Outcome) -> list[str]:
    return compare(_expect(_file(expect)), outcome, MARIA, TODAY)


FRIDAY = date(2026, 11, 20)


def test_the_expected_promise_and_nothing_else_passes() -> None:
    outcome = Outcome(
        verified=True,
        promises=[PromiseRow(MARIA, Decimal("2000.00"), FRIDAY, "pending")],
        persona_before="olvidadizo",
        persona_after="olvidadizo",
    )
    expect = 'verified: true\npromise: {amount: "2000.00", due: next friday}'
    assert _compare(expect, outcome) == []


@pytest.mark.parametrize(
    ("row", "why"),
    [
        (PromiseRow(MARIA, Decimal("2000.00"), date(2026, 11, 27), "pending"), "due 2026-11-27"),
        (PromiseRow(MARIA, Decimal("200.00"), FRIDAY, "pending"), "$200.00"),
        (PromiseRow(MARIA, Decimal("2000.00"), FRIDAY, "cancelled"), "cancelled"),
        (PromiseRow("+528112345678", Decimal("2000.00"), FRIDAY, "pending"), "+528112345678"),
    ],
)
def test_a_wrong_promise_fails_saying_what_was_found(row: PromiseRow, why: str) -> None:
    outcome = Outcome(verified=True, promises=[row])
    (problem,) = _compare('verified: true\npromise: {amount: "2000.00", due: next friday}', outcome)
    assert problem.startswith("promise: expected $2,000.00 due 2026-11-20") and why in problem


def test_two_promises_are_not_the_one_expected() -> None:
    row = PromiseRow(MARIA, Decimal("2000.00"), FRIDAY, "pending")
    outcome = Outcome(verified=True, promises=[row, row])
    assert _compare('verified: true\npromise: {amount: "2000.00", due: next friday}', outcome)


def test_what_is_not_expected_must_not_have_happened() -> None:
    outcome = Outcome(
        verified=False,
        identity_failures=1,
        promises=[PromiseRow(MARIA, Decimal("1.00"), TODAY, "pending")],
        agreements=[AgreementRow(MARIA, "installments", 2, Decimal("8450"), Decimal(0), None)],
        consents=["revoked"],
        blocks=["third_party"],
        handoffs=["no_entendido"],
        disputed=True,
        audit=[("hardship_declared", {}), ("discount_requested", {}), ("payment_claimed", {})],
        reminders=[TODAY],
        persona_before="olvidadizo",
        persona_after="negociador",
    )
    problems = _compare("verified: false", outcome)
    kinds = [p.split(":")[0] for p in problems]
    assert kinds == [
        "identity_failures",
        "promise",
        "agreement",
        "consent",
        "block",
        "handoff",
        "dispute",
        "hardship",
        "discount_request",
        "payment_report",
        "reminder",
        "persona",
    ]
    assert all("none expected" in p or "expected" in p for p in problems)


def test_every_expected_fact_is_checked() -> None:
    expect = """
verified: true
identity_failures: 1
agreement: {plan_type: settlement, payments: 1, total: "10800.00", discount: "1200.00", first_due: today+7}
consent: granted
block: wrong_number
handoff: disputa
dispute: true
hardship: true
discount_request: true
payment_report: {amount: "8450.00", paid_on: today-1}
reminder: {due: next friday}
persona: en_apuros
"""
    right = Outcome(
        verified=True,
        identity_failures=1,
        agreements=[
            AgreementRow(
                MARIA, "settlement", 1, Decimal("10800.00"), Decimal("1200.00"), date(2026, 11, 25)
            )
        ],
        consents=["granted"],
        blocks=["wrong_number"],
        handoffs=["disputa"],
        disputed=True,
        audit=[
            ("hardship_declared", {}),
            ("discount_requested", {}),
            ("payment_claimed", {"amount": None, "paid_on": None}),
            ("payment_claimed", {"amount": "8450.00", "paid_on": "2026-11-17"}),
        ],
        reminders=[FRIDAY],
        persona_before="olvidadizo",
        persona_after="en_apuros",
    )
    assert _compare(expect, right) == []
    wrong = Outcome(
        verified=False,
        agreements=[
            AgreementRow(
                MARIA, "settlement", 1, Decimal("10800.00"), Decimal("1200.00"), date(2026, 11, 26)
            )
        ],
        consents=["granted", "revoked"],
        handoffs=["disputa", "insultos"],
        audit=[("payment_claimed", {"amount": "8450.00", "paid_on": "2026-11-18"})],
        reminders=[TODAY],
        persona_before="olvidadizo",
        persona_after="olvidadizo",
    )
    kinds = [p.split(":")[0] for p in _compare(expect, wrong)]
    assert kinds == [
        "verified",
        "identity_failures",
        "agreement",
        "consent",
        "block",
        "handoff",
        "dispute",
        "hardship",
        "discount_request",
        "payment_report",
        "reminder",
        "persona",
    ]


def test_said_phrases_ignore_accents_and_case() -> None:
    expect = _expect(_file('verified: true\nsaid: ["Identidad CONFIRMADA", "$8,450.00"]'))
    transcript = [Exchange("12/03/1985", [BotMessage("Gracias, identidad confirmada.")], True)]
    assert missing_phrases(expect, transcript) == ["said: the assistant never said '$8,450.00'"]


# --------------------------------------------------------------------------- disclosure

SECRETS = [
    Secret("balance", "8,450.00"),
    Secret("name", "Ana", whole_word=True),
    Secret("CLABE", "012180001234567897"),
]


def test_a_secret_before_verification_is_reported_and_after_it_is_not() -> None:
    transcript = [
        Exchange("hola", [BotMessage("¡Hola! Soy Cobi. ¿En qué te puedo ayudar?")]),
        Exchange("cuanto debo", [BotMessage("Tu saldo es de $8,450.00")]),
        Exchange("12/03/1985", [BotMessage("Identidad confirmada. Saldo: $8,450.00")], True),
        Exchange("y la clabe", [BotMessage("CLABE 012180001234567897")], True),
    ]
    (problem,) = disclosures(transcript, SECRETS)
    assert problem.startswith("disclosed before verification (turn 2): balance '8,450.00'")


def test_a_name_is_found_as_a_word_whatever_the_accents_not_inside_other_words() -> None:
    assert Secret("name", "Sofía", whole_word=True).found_in("Hola SOFIA, ¿cómo estás?")
    assert not Secret("name", "Ana", whole_word=True).found_in("Te pago mañana, la semana")
    button = BotMessage("¿Cuál opción prefieres?", (Choice("Ana: $8,450.00", "/x"),))
    assert len(disclosures([Exchange("planes", [button])], SECRETS)) == 2


# --------------------------------------------------------------------------- what was said


def test_rest_answers_with_buttons_and_a_custom_list() -> None:
    messages = rest_messages(
        [
            {
                "recipient_id": "rest:x",
                "text": "¿Cuál opción prefieres?",
                "buttons": [
                    {"title": "Pago total", "payload": '/informar{"plan_elegido": "pago_total"}'},
                    {
                        "title": "2 pagos",
                        "payload": '/informar{"plan_elegido": "plan_2_quincenal"}',
                    },
                ],
            },
            {"recipient_id": "rest:x", "custom": {"type": "list", "rows": []}},
        ]
    )
    assert [c.title for c in messages[0].choices] == ["Pago total", "2 pagos"]
    assert messages[1].text.startswith("[custom] {")


def test_graph_messages_read_text_buttons_and_lists() -> None:
    sent = [
        {"type": "text", "text": {"body": "hola"}},
        {
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "¿Nos autorizas?"},
                "action": {
                    "buttons": [{"type": "reply", "reply": {"id": "/afirmar", "title": "Sí"}}]
                },
            },
        },
        {
            "type": "interactive",
            "interactive": {
                "type": "list",
                "body": {"text": "¿Cuál opción prefieres?"},
                "action": {
                    "button": "Ver opciones",
                    "sections": [{"rows": [{"id": "/p1", "title": "6 pagos"}]}],
                },
            },
        },
        {"type": "template", "template": {"name": "mensaje_pendiente"}},
    ]
    messages = graph_messages(sent)
    assert [m.text for m in messages] == [
        "hola",
        "¿Nos autorizas?",
        "¿Cuál opción prefieres?",
        "[template mensaje_pendiente]",
    ]
    assert messages[1].choices == (Choice("Sí", "/afirmar"),)
    assert messages[2].choices == (Choice("6 pagos", "/p1", "list"),)


PLANS = BotMessage(
    "¿Cuál opción prefieres?",
    (
        Choice("Pago total", '/informar{"plan_elegido": "pago_total"}'),
        Choice("6 pagos", '/informar{"plan_elegido": "plan_6_quincenal"}'),
        Choice("12 pagos", '/informar{"plan_elegido": "plan_12_quincenal"}'),
    ),
)


def test_press_picks_from_the_last_message_with_buttons() -> None:
    transcript = [
        Exchange("opciones", [BotMessage("Estas son las opciones"), PLANS]),
        Exchange("mmm", [BotMessage("Perdón, no te entendí.")]),
    ]
    assert pick(Press(2), transcript).title == "6 pagos"
    assert pick(Press("12 PAGOS"), transcript).title == "12 pagos"
    assert pick(Press("pago_total"), transcript).title == "Pago total"
    with pytest.raises(LookupError, match="only 3 options"):
        pick(Press(4), transcript)
    with pytest.raises(LookupError, match="no option like that among: Pago total, 6 pagos"):
        pick(Press("24 pagos"), transcript)
    with pytest.raises(LookupError, match="no message offered buttons"):
        pick(Press(1), transcript[1:])


# --------------------------------------------------------------------------- the restore


def test_restore_brings_back_every_table_and_empties_the_new_ones(tmp_path: Path) -> None:
    database, saved = tmp_path / "eval.db", tmp_path / "saved.db"
    for path in (database, saved):
        with sqlite3.connect(path) as connection:
            connection.execute("CREATE TABLE promises (id INTEGER PRIMARY KEY, amount TEXT)")
            connection.execute("INSERT INTO promises (amount) VALUES ('100'), ('200')")
        connection.close()
    with sqlite3.connect(database) as connection:
        connection.execute("DELETE FROM promises WHERE id = 1")
        connection.execute("INSERT INTO promises (amount) VALUES ('300')")
        connection.execute("CREATE TABLE events (id INTEGER PRIMARY KEY, data TEXT)")
        connection.execute("INSERT INTO events (data) VALUES ('user said hola')")
    connection.close()
    restore(database, saved)
    with sqlite3.connect(database) as connection:
        assert connection.execute("SELECT id, amount FROM promises").fetchall() == [
            (1, "100"),
            (2, "200"),
        ]
        assert connection.execute("SELECT count(*) FROM events").fetchone() == (0,)
        connection.execute("INSERT INTO promises (amount) VALUES ('400')")
        assert connection.execute("SELECT max(id) FROM promises").fetchone() == (3,)
    connection.close()


def test_date_expressions_in_files_use_the_debtors_today() -> None:
    assert parse_date("next friday").on(TODAY) == FRIDAY
