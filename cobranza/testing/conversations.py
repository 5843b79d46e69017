"""Whole conversations against the real servers, judged by what ends up in the database.

A conversation file (``tests/conversations/<flow>.yml``, one per flow family) lists what a debtor
types, turn by turn, on one channel — ``rest`` (the web chat identity path: the visitor types
the number, then the date of birth) or ``whatsapp`` (signed webhooks from the debtor's own
number, answered through the fake Graph API) — and the outcome as database facts (``expect``).
:func:`load_conversations` checks every file against ``conversations.schema.json`` and the
cross-references a schema cannot express (unique ids, date expressions, documented debtors),
and names the file and the conversation of every problem.

:class:`Evaluation` seeds the demo portfolio as of today in a fresh temporary SQLite database,
starts the servers once (REST and WhatsApp in one Rasa) and runs each conversation on the
database exactly as it was seeded: before each one every table, Rasa's trackers included, is
restored from a snapshot taken right after seeding. After the last turn it checks

* the expected rows, and that nothing else happened: what ``expect`` does not name (a promise,
  an agreement, a consent record, a block, a ticket, a dispute, a hardship, a discount request,
  a payment report, a reminder, another persona) must not be in the database;
* that nothing was disclosed before verification: no message before the one that carried a
  matching date of birth holds the debtor's balance, name, contract, product or creditor
  (name, CLABE, convenience-store reference, card link).

Development tooling, like the rest of ``cobranza.testing``: nothing in the assistant imports it.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import requests
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from cobranza import db
from cobranza.clock import SystemClock, local_today
from cobranza.config import PROJECT_ROOT
from cobranza.db.models import (
    AgreementInstallment,
    AuditLog,
    Consent,
    ContactBlock,
    Debt,
    Debtor,
    HandoffTicket,
    IdentityAttempt,
    IdentityVerification,
    PaymentAgreement,
    Promise,
    Reminder,
    WhatsAppInbound,
)
from cobranza.demo.data import demo_data
from cobranza.domain.amounts import fold
from cobranza.domain.money import format_mxn
from cobranza.domain.phones import whatsapp_id
from cobranza.domain.vocabulary import AuditAction, DebtStatus, InboundStatus, PromiseStatus
from cobranza.errors import InvalidFiles, NotFound
from cobranza.personas.profiles import load_profiles
from cobranza.services.payments import payment_methods
from cobranza.simulation.fake_graph import (
    FakeGraphAPI,
    interactive_reply,
    signed_request,
    text_message,
    webhook_payload,
)
from cobranza.testing import date_expressions
from cobranza.testing.databases import DEFAULT_TIME_ZONE, PERSONAS_DIR, seed_demo
from cobranza.testing.date_expressions import DateExpression
from cobranza.testing.servers import Servers, running_servers

CONVERSATIONS_DIR = PROJECT_ROOT / "tests" / "conversations"
SCHEMA_PATH = Path(__file__).with_name("conversations.schema.json")
TURN_TIMEOUT = 90.0  # seconds for the answers to one message

# The WhatsApp business number's id at the fake Graph API (its token and the app secret are
# generated for each run).
_PHONE_NUMBER_ID = "109876543210987"


# --------------------------------------------------------------------------- the files


@dataclass(frozen=True)
class Press:
    """Press a button (or pick a list row) of the last message that offered some: by position
    (1 = first) or by text found in its title or payload."""

    choice: int | str

    def __str__(self) -> str:
        return f"[press {self.choice}]"


Turn = str | Press


@dataclass(frozen=True)
class PromiseFact:
    amount: Decimal
    due: DateExpression


@dataclass(frozen=True)
class AgreementFact:
    plan_type: str
    payments: int
    total: Decimal | None = None
    discount: Decimal | None = None
    first_due: DateExpression | None = None


@dataclass(frozen=True)
class PaymentReportFact:
    amount: Decimal | None = None
    paid_on: DateExpression | None = None


@dataclass(frozen=True)
class Expectation:
    """The outcome as database facts; anything left ``None``/``False`` must not happen."""

    verified: bool
    identity_failures: int = 0
    promise: PromiseFact | None = None
    renewed_promises: int = 0  # promises made in the conversation, then broken and renewed
    agreement: AgreementFact | None = None
    consent: str | None = None
    block: str | None = None
    handoff: str | None = None
    dispute: bool = False
    hardship: bool = False
    discount_request: bool = False
    payment_report: PaymentReportFact | None = None
    reminder: DateExpression | None = None
    persona: str | None = None
    said: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conversation:
    id: str
    flow: str  # the file's name: one flow family per file
    channel: str
    debtor: str  # E.164
    turns: tuple[Turn, ...]
    expect: Expectation
    note: str = ""
    source: str = ""

    @property
    def documented(self) -> bool:
        return self.debtor in documented_phones()


class ConversationFileError(InvalidFiles):
    """Conversation files that do not validate; ``problems`` lists ``file: id: key: message``."""


def documented_phones() -> frozenset[str]:
    return frozenset(str(d["phone"]) for d in demo_data().documented)


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def _amount(value: object) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _date(raw: dict[str, Any], key: str, where: str, problems: list[str]) -> DateExpression | None:
    if key not in raw:
        return None
    try:
        return date_expressions.parse(raw[key])
    except date_expressions.InvalidDateExpression as exc:
        problems.append(f"{where}.{key}: {exc}")
        return None


def _expectation(raw: dict[str, Any], where: str, problems: list[str]) -> Expectation:
    promise = agreement = report = None
    if "promise" in raw:
        due = _date(raw["promise"], "due", f"{where}.promise", problems)
        if due is not None:
            promise = PromiseFact(Decimal(raw["promise"]["amount"]), due)
    if "agreement" in raw:
        a = raw["agreement"]
        agreement = AgreementFact(
            a["plan_type"],
            a["payments"],
            _amount(a.get("total")),
            _amount(a.get("discount")),
            _date(a, "first_due", f"{where}.agreement", problems),
        )
    if "payment_report" in raw:
        r = raw["payment_report"] if isinstance(raw["payment_report"], dict) else {}
        paid_on = _date(r, "paid_on", f"{where}.payment_report", problems)
        report = PaymentReportFact(_amount(r.get("amount")), paid_on)
    reminder = (
        _date(raw["reminder"], "due", f"{where}.reminder", problems) if "reminder" in raw else None
    )
    return Expectation(
        verified=raw["verified"],
        identity_failures=raw.get("identity_failures", 0),
        promise=promise,
        renewed_promises=raw.get("renewed_promises", 0),
        agreement=agreement,
        consent=raw.get("consent"),
        block=raw.get("block"),
        handoff=raw.get("handoff"),
        dispute=raw.get("dispute", False),
        hardship=raw.get("hardship", False),
        discount_request=raw.get("discount_request", False),
        payment_report=report,
        reminder=reminder,
        persona=raw.get("persona"),
        said=tuple(raw.get("said", ())),
    )


def _turn(raw: object) -> Turn:
    return Press(raw["press"]) if isinstance(raw, dict) else str(raw)


def _schema_problems(label: str, data: object) -> list[str]:
    """``file: id: key: message`` for every schema error (the id when a conversation has one)."""
    items = data.get("conversations") if isinstance(data, dict) else None
    problems = []
    errors = jsonschema.Draft7Validator(_schema()).iter_errors(data)
    for error in sorted(errors, key=lambda e: [str(p) for p in e.absolute_path]):
        where = list(error.absolute_path)
        who = ""
        if len(where) >= 2 and isinstance(items, list) and isinstance(where[1], int):
            item = items[where[1]]
            named = isinstance(item, dict) and isinstance(item.get("id"), str)
            who = f"{item['id'] if named else f'#{where[1] + 1}'}: "
            where = where[2:]
        key = ".".join(str(p) for p in where) or "(root)"
        problems.append(f"{label}: {who}{key}: {error.message}")
    return problems


def parse_file(path: Path, text: str | None = None) -> tuple[list[Conversation], list[str]]:
    """The conversations of one file (its name is their flow) and the problems found, each as
    ``file: id: key: message``. ``text`` stands in for the file's content (tests)."""
    label = path.name
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8") if text is None else text)
    except yaml.YAMLError as exc:
        return [], [f"{label}: not YAML: {exc}"]
    problems = _schema_problems(label, data)
    if problems:
        return [], problems
    conversations: list[Conversation] = []
    documented = documented_phones()
    personas = sorted(load_profiles(PERSONAS_DIR))
    for raw in data["conversations"]:
        where = f"{label}: {raw['id']}: expect"
        expect = _expectation(raw["expect"], where, problems)
        if raw["debtor"] not in documented and expect.verified:
            problems.append(
                f"{label}: {raw['id']}: debtor: {raw['debtor']} is not a documented debtor "
                "(cobranza/demo/portfolio.yml), so it cannot be verified"
            )
        if expect.persona is not None and expect.persona not in personas:
            problems.append(f"{where}.persona: {expect.persona!r} is none of {', '.join(personas)}")
        conversations.append(
            Conversation(
                id=raw["id"],
                flow=path.stem,
                channel=raw["channel"],
                debtor=raw["debtor"],
                turns=tuple(_turn(t) for t in raw["turns"]),
                expect=expect,
                note=str(raw.get("note", "")).strip(),
                source=label,
            )
        )
    return conversations, problems


def load_conversations(directory: Path = CONVERSATIONS_DIR) -> list[Conversation]:
    """Every conversation of ``directory/*.yml``; :class:`ConversationFileError` lists every
    problem of every file at once."""
    problems: list[str] = []
    conversations: list[Conversation] = []
    files = sorted(directory.glob("*.yml"))
    if not files:
        raise ConversationFileError([f"{directory}: no conversation files (*.yml)"])
    seen: dict[str, str] = {}
    for path in files:
        found, file_problems = parse_file(path)
        problems += file_problems
        for conversation in found:
            if conversation.id in seen:
                problems.append(
                    f"{path.name}: {conversation.id}: id: also used in {seen[conversation.id]}"
                )
            seen[conversation.id] = path.name
        conversations += found
    if problems:
        raise ConversationFileError(problems)
    return conversations


# --------------------------------------------------------------------------- what was said


@dataclass(frozen=True)
class Choice:
    title: str
    payload: str  # REST: the text to send back; WhatsApp: the button or row id
    kind: str = "button"  # WhatsApp: button (button_reply) or list (list_reply)


@dataclass(frozen=True)
class BotMessage:
    text: str
    choices: tuple[Choice, ...] = ()

    def readable(self) -> str:
        """The text and every choice's title: all a debtor reads."""
        return "\n".join([self.text, *(c.title for c in self.choices)])


@dataclass
class Exchange:
    said: str  # what the debtor sent (a pressed button shows as "[press <title>]")
    replies: list[BotMessage]
    verified_after: bool = False  # a verification was on record once this turn was answered


def rest_messages(replies: list[dict[str, Any]]) -> list[BotMessage]:
    """The REST channel's answers; a custom payload (the plans as a list) shows as its JSON."""
    return [
        BotMessage(
            str(r.get("text") or "")
            or ("[custom] " + json.dumps(r["custom"], ensure_ascii=False) if "custom" in r else ""),
            tuple(
                Choice(str(b.get("title", "")), str(b.get("payload", "")))
                for b in r.get("buttons") or []
            ),
        )
        for r in replies
    ]


def graph_messages(sent: list[dict[str, Any]]) -> list[BotMessage]:
    """What the fake Graph API received, as the debtor would read it."""
    out = []
    for m in sent:
        if m.get("type") == "text":
            out.append(BotMessage(m["text"]["body"]))
        elif m.get("type") == "interactive":
            box = m["interactive"]
            action = box.get("action", {})
            if box.get("type") == "button":
                choices = tuple(
                    Choice(b["reply"]["title"], b["reply"]["id"]) for b in action["buttons"]
                )
            else:
                choices = tuple(
                    Choice(r["title"], r["id"], "list")
                    for s in action.get("sections", [])
                    for r in s.get("rows", [])
                )
            out.append(BotMessage(box["body"]["text"], choices))
        elif m.get("type") == "template":
            out.append(BotMessage(f"[template {m['template']['name']}]"))
    return out


def pick(press: Press, transcript: Sequence[Exchange]) -> Choice:
    """The choice ``press`` names among the last message that offered some."""
    offered: tuple[Choice, ...] = ()
    for exchange in reversed(transcript):
        offered = next((m.choices for m in reversed(exchange.replies) if m.choices), ())
        if offered:
            break
    if not offered:
        raise LookupError(f"{press}: no message offered buttons")
    if isinstance(press.choice, int):
        if press.choice > len(offered):
            raise LookupError(f"{press}: only {len(offered)} options")
        return offered[press.choice - 1]
    wanted = fold(press.choice)
    for choice in offered:
        if wanted in fold(choice.title) or wanted in choice.payload:
            return choice
    titles = ", ".join(c.title for c in offered)
    raise LookupError(f"{press}: no option like that among: {titles}")


# --------------------------------------------------------------------------- disclosure


@dataclass(frozen=True)
class Secret:
    """Something about the debt only a verified debtor may read."""

    what: str
    text: str
    whole_word: bool = False

    def found_in(self, said: str) -> bool:
        folded, wanted = fold(said), fold(self.text)
        if self.whole_word:
            return re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", folded) is not None
        return wanted in folded


def debtor_secrets(engine: Engine, phone: str) -> list[Secret]:
    """The debtor's name (whole and each part), and for every active debt its balance,
    contract, product and creditor (name, legal name, CLABE, store reference, card link)."""
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        debtor = session.get(Debtor, phone)
        if debtor is None:
            return []
        found = [Secret("full name", debtor.full_name)]
        found += [
            Secret("name", part, whole_word=True)
            for part in debtor.full_name.split()
            if len(part) >= 3
        ]
        for debt in debtor.debts:
            if debt.status not in (DebtStatus.ACTIVE, DebtStatus.DISPUTED, DebtStatus.PAUSED):
                continue
            balance = format_mxn(Decimal(debt.current_balance))
            creditor = debt.creditor
            found += [
                Secret("balance", balance.lstrip("$")),
                Secret("contract", debt.contract_number),
                Secret("product", debt.product, whole_word=True),
                Secret("creditor", creditor.name),
                Secret("creditor", creditor.legal_name),
                Secret("CLABE", creditor.clabe),
            ]
            if creditor.card_payment_url:
                found.append(Secret("card link", creditor.card_payment_url))
        try:
            methods = payment_methods(session, phone)
            found.append(Secret("store reference", methods.convenience_store_reference))
        except NotFound:
            pass
    return found


def disclosures(transcript: Sequence[Exchange], found: Sequence[Secret]) -> list[str]:
    """Every secret the assistant said before the turn that verified the debtor."""
    problems = []
    for number, exchange in enumerate(transcript, start=1):
        if exchange.verified_after:
            break
        for message in exchange.replies:
            for secret in found:
                if secret.found_in(message.readable()):
                    problems.append(
                        f"disclosed before verification (turn {number}): {secret.what} "
                        f"{secret.text!r} in {message.text[:80]!r}"
                    )
    return problems


# --------------------------------------------------------------------------- the outcome


@dataclass(frozen=True)
class PromiseRow:
    debtor: str
    amount: Decimal
    due: date
    status: str

    def __str__(self) -> str:
        return (
            f"{format_mxn(self.amount)} due {self.due.isoformat()} ({self.status}, {self.debtor})"
        )


@dataclass(frozen=True)
class AgreementRow:
    debtor: str
    plan_type: str
    payments: int
    total: Decimal
    discount: Decimal
    first_due: date | None

    def __str__(self) -> str:
        first = self.first_due.isoformat() if self.first_due else "-"
        return (
            f"{self.plan_type} in {self.payments} payment(s), total {format_mxn(self.total)}, "
            f"discount {format_mxn(self.discount)}, first due {first} ({self.debtor})"
        )


@dataclass
class Outcome:
    """What one conversation left in the database (rows added since the snapshot)."""

    verified: bool = False
    identity_failures: int = 0
    promises: list[PromiseRow] = field(default_factory=list)
    agreements: list[AgreementRow] = field(default_factory=list)
    consents: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)
    handoffs: list[str] = field(default_factory=list)
    disputed: bool = False  # a debt of the debtor's went to "disputed"
    audit: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reminders: list[date] = field(default_factory=list)
    persona_before: str | None = None
    persona_after: str | None = None

    def audited(self, action: AuditAction) -> list[dict[str, Any]]:
        return [details for name, details in self.audit if name == action.value]


def _listed(rows: Sequence[object]) -> str:
    return "; ".join(str(r) for r in rows) or "none"


def _promise(want: PromiseFact | None, found: list[PromiseRow], debtor: str, today: date) -> str:
    """The pending promise the conversation leaves (those it renewed are counted apart)."""
    found = [p for p in found if p.status != PromiseStatus.BROKEN.value]
    if want is None:
        return f"promise: none expected, found {_listed(found)}" if found else ""
    wanted = PromiseRow(debtor, want.amount, want.due.on(today), PromiseStatus.PENDING.value)
    if found != [wanted]:
        return f"promise: expected {wanted} ({want.due}), found {_listed(found)}"
    return ""


def _renewed(expected: int, outcome: Outcome) -> str:
    """Promises of this conversation broken and renewed ("no voy a poder pagar el viernes"):
    each is audited ``promise_rescheduled``."""
    broken = [p for p in outcome.promises if p.status == PromiseStatus.BROKEN.value]
    renewed = outcome.audited(AuditAction.PROMISE_RESCHEDULED)
    if len(broken) == len(renewed) == expected:
        return ""
    return (
        f"renewed_promises: expected {expected}, found {len(broken)} broken "
        f"and {len(renewed)} audited as rescheduled"
    )


def _agreement(
    want: AgreementFact | None, found: list[AgreementRow], debtor: str, today: date
) -> str:
    if want is None:
        return f"agreement: none expected, found {_listed(found)}" if found else ""
    first_due = want.first_due.on(today) if want.first_due is not None else None
    matches = len(found) == 1 and (
        found[0].debtor == debtor
        and found[0].plan_type == want.plan_type
        and found[0].payments == want.payments
        and want.total in (None, found[0].total)
        and want.discount in (None, found[0].discount)
        and first_due in (None, found[0].first_due)
    )
    if matches:
        return ""
    expected = f"{want.plan_type} in {want.payments} payment(s)"
    if want.total is not None:
        expected += f", total {format_mxn(want.total)}"
    if want.discount is not None:
        expected += f", discount {format_mxn(want.discount)}"
    if first_due is not None:
        expected += f", first due {first_due.isoformat()} ({want.first_due})"
    return f"agreement: expected {expected}, found {_listed(found)}"


def _codes(kind: str, want: str | None, found: list[str], exactly_one: bool = False) -> str:
    """Rows with a code (consent status, block reason, ticket reason): none when nothing is
    expected, else every row has the expected code (``exactly_one``: and there is one)."""
    if want is None:
        return f"{kind}: none expected, found {', '.join(found)}" if found else ""
    ok = found == [want] if exactly_one else bool(found) and set(found) == {want}
    return "" if ok else f"{kind}: expected {want}, found {', '.join(found) or 'none'}"


def _flag(kind: str, wanted: bool, happened: bool) -> str:
    if wanted == happened:
        return ""
    return f"{kind}: expected it, found none" if wanted else f"{kind}: none expected, found it"


def _payment_report(
    want: PaymentReportFact | None, claims: list[dict[str, Any]], today: date
) -> str:
    if want is None or not claims:
        return _flag("payment_report", want is not None, bool(claims))
    amount = None if want.amount is None else str(want.amount)
    paid_on = None if want.paid_on is None else want.paid_on.on(today).isoformat()
    for claim in claims:
        if amount in (None, claim.get("amount")) and paid_on in (None, claim.get("paid_on")):
            return ""
    found = "; ".join(f"amount {c.get('amount')}, paid on {c.get('paid_on')}" for c in claims)
    return f"payment_report: expected amount {amount}, paid on {paid_on}; found {found}"


def _reminder(want: DateExpression | None, found: list[date], today: date) -> str:
    days = ", ".join(d.isoformat() for d in found) or "none"
    if want is None:
        return f"reminder: none expected, found {days}" if found else ""
    if found != [want.on(today)]:
        return f"reminder: expected one for {want.on(today).isoformat()} ({want}), found {days}"
    return ""


def compare(expect: Expectation, outcome: Outcome, debtor: str, today: date) -> list[str]:
    """Why ``outcome`` is not what ``expect`` says (empty: it is). ``today`` is the debtor's
    local date, for the date expressions. What ``expect`` does not name must not be there."""
    persona = expect.persona or outcome.persona_before
    problems = [
        _flag("verified", expect.verified, outcome.verified),
        ""
        if outcome.identity_failures == expect.identity_failures
        else (
            f"identity_failures: expected {expect.identity_failures}, "
            f"counted {outcome.identity_failures}"
        ),
        _promise(expect.promise, outcome.promises, debtor, today),
        _renewed(expect.renewed_promises, outcome),
        _agreement(expect.agreement, outcome.agreements, debtor, today),
        _codes("consent", expect.consent, outcome.consents),
        _codes("block", expect.block, outcome.blocks),
        _codes("handoff", expect.handoff, outcome.handoffs, exactly_one=True),
        _flag(
            "dispute",
            expect.dispute,
            outcome.disputed or bool(outcome.audited(AuditAction.DISPUTE_OPENED)),
        ),
        _flag("hardship", expect.hardship, bool(outcome.audited(AuditAction.HARDSHIP_DECLARED))),
        _flag(
            "discount_request",
            expect.discount_request,
            bool(outcome.audited(AuditAction.DISCOUNT_REQUESTED)),
        ),
        _payment_report(expect.payment_report, outcome.audited(AuditAction.PAYMENT_CLAIMED), today),
        _reminder(expect.reminder, outcome.reminders, today),
        ""
        if outcome.persona_after == persona
        else (
            f"persona: expected {persona}, was {outcome.persona_after} "
            f"(before: {outcome.persona_before})"
        ),
    ]
    return [p for p in problems if p]


def missing_phrases(expect: Expectation, transcript: Sequence[Exchange]) -> list[str]:
    said = fold("\n".join(m.readable() for e in transcript for m in e.replies))
    return [f"said: the assistant never said {p!r}" for p in expect.said if fold(p) not in said]


# --------------------------------------------------------------------------- the database


def seed_database(path: Path) -> str:
    """A migrated SQLite database at ``path`` with the demo portfolio as of today in Mexico City
    and the personas assigned on the wall clock (:func:`cobranza.testing.databases.seed_demo`)."""
    return seed_demo(f"sqlite:///{path}")


def snapshot(source: Path, target: Path) -> None:
    """A consistent copy of the SQLite file ``source`` (WAL included) at ``target``."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()


def _tables(connection: sqlite3.Connection, schema: str) -> list[str]:
    rows = connection.execute(
        f"SELECT name FROM {schema}.sqlite_master WHERE type = 'table' "  # noqa: S608 - schema is ours
        "AND name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _stored_columns(connection: sqlite3.Connection, table: str) -> str:
    """The columns an INSERT may name: not the generated ones (``table_xinfo``'s hidden 2 and
    3, e.g. ``feature_snapshots.bucket``), which ``SELECT *`` returns but no INSERT accepts."""
    rows = connection.execute(f'PRAGMA main.table_xinfo("{table}")').fetchall()
    return ", ".join(f'"{row[1]}"' for row in rows if row[6] == 0)


def restore(database: Path, saved: Path) -> None:
    """Every table of ``database`` as it is in ``saved`` (tables ``saved`` lacks, like Rasa's
    ``events``, emptied), in one transaction the servers' connections wait for."""
    connection = sqlite3.connect(database, timeout=30, isolation_level=None)
    try:
        connection.execute("PRAGMA busy_timeout=30000")
        connection.execute("ATTACH DATABASE ? AS saved", (str(saved),))
        kept = set(_tables(connection, "saved"))
        connection.execute("BEGIN IMMEDIATE")
        for table in _tables(connection, "main"):
            connection.execute(f'DELETE FROM main."{table}"')  # noqa: S608 - names from sqlite_master
            if table in kept:
                columns = _stored_columns(connection, table)
                connection.execute(
                    f'INSERT INTO main."{table}" ({columns}) SELECT {columns} FROM saved."{table}"'  # noqa: S608 - names from sqlite_master
                )
        connection.execute("COMMIT")
        connection.execute("DETACH DATABASE saved")
    finally:
        connection.close()


TRACKED = (
    AuditLog,
    Consent,
    ContactBlock,
    HandoffTicket,
    IdentityAttempt,
    IdentityVerification,
    PaymentAgreement,
    Promise,
    Reminder,
)


def last_ids(database: Path) -> dict[str, int]:
    """The largest id of each tracked table in ``database``: a row above it is new (SQLite
    gives a new row the largest id plus one)."""
    engine = db.make_engine(f"sqlite:///{database}")
    try:
        with engine.connect() as connection:
            return {
                model.__tablename__: int(
                    connection.execute(select(func.max(model.id))).scalar() or 0
                )
                for model in TRACKED
            }
    finally:
        engine.dispose()


def read_outcome(
    engine: Engine, conversation_id: str, debtor: str, before: dict[str, int], base: Baseline
) -> Outcome:
    """The rows added since the snapshot (ids above ``before``), whoever they belong to: only
    this conversation ran since the database was restored."""
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:

        def new(model: Any) -> Any:
            return select(model).where(model.id > before[model.__tablename__]).order_by(model.id)

        verified = bool(
            session.execute(
                new(IdentityVerification).where(
                    IdentityVerification.conversation_id == conversation_id,
                    IdentityVerification.phone == debtor,
                )
            ).first()
        )
        failures = len(
            session.execute(new(IdentityAttempt).where(IdentityAttempt.succeeded.is_(False))).all()
        )
        promises = [
            PromiseRow(p.debtor_phone, Decimal(p.amount), p.due_date, str(p.status))
            for p in session.execute(new(Promise)).scalars()
        ]
        agreements = []
        for a in session.execute(new(PaymentAgreement)).scalars():
            installments = (
                session.execute(
                    select(AgreementInstallment)
                    .where(AgreementInstallment.agreement_id == a.id)
                    .order_by(AgreementInstallment.number)
                )
                .scalars()
                .all()
            )
            agreements.append(
                AgreementRow(
                    a.debtor_phone,
                    a.plan_type,
                    len(installments),
                    Decimal(a.total_amount),
                    Decimal(a.discount_amount),
                    installments[0].due_date if installments else None,
                )
            )
        statuses = {
            d.id: str(d.status)
            for d in session.execute(select(Debt).where(Debt.debtor_phone == debtor)).scalars()
        }
        debtor_row = session.get(Debtor, debtor)
        return Outcome(
            verified=verified,
            identity_failures=failures,
            promises=promises,
            agreements=agreements,
            consents=[str(c.status) for c in session.execute(new(Consent)).scalars()],
            blocks=[str(b.reason) for b in session.execute(new(ContactBlock)).scalars()],
            handoffs=[str(t.reason) for t in session.execute(new(HandoffTicket)).scalars()],
            disputed=any(
                status == DebtStatus.DISPUTED and base.debt_statuses.get(debt_id) != status
                for debt_id, status in statuses.items()
            ),
            audit=[
                (str(a.action), dict(a.details or {}))
                for a in session.execute(new(AuditLog)).scalars()
            ],
            reminders=[r.due_on for r in session.execute(new(Reminder)).scalars()],
            persona_before=base.persona,
            persona_after=None if debtor_row is None else debtor_row.persona,
        )


@dataclass(frozen=True)
class Baseline:
    """The debtor as seeded: persona, debt statuses, time zone, what must stay secret."""

    known: bool
    persona: str | None
    time_zone: str
    debt_statuses: dict[int, str]
    secrets: tuple[Secret, ...]


def baseline(engine: Engine, phone: str) -> Baseline:
    factory = db.make_session_factory(engine)
    with db.session_scope(factory) as session:
        debtor = session.get(Debtor, phone)
        if debtor is None:
            return Baseline(False, None, DEFAULT_TIME_ZONE, {}, ())
        statuses = {d.id: str(d.status) for d in debtor.debts}
        persona, zone = debtor.persona, debtor.time_zone
    return Baseline(True, persona, zone, statuses, tuple(debtor_secrets(engine, phone)))


# --------------------------------------------------------------------------- the channels


class _Rest:
    def __init__(self, servers: Servers, sender: str) -> None:
        self.servers = servers
        self.sender = sender

    @property
    def conversation_id(self) -> str:
        return f"rest:{self.sender}"

    def say(self, text: str) -> list[BotMessage]:
        return rest_messages(self.servers.say(self.sender, text, timeout=TURN_TIMEOUT))

    def press(self, choice: Choice) -> list[BotMessage]:
        return self.say(choice.payload)


class _WhatsApp:
    def __init__(self, url: str, app_secret: str, graph: FakeGraphAPI, engine: Engine, wa_id: str):
        self.url = url
        self.app_secret = app_secret
        self.graph = graph
        self.engine = engine
        self.wa_id = wa_id
        self.counter = 0

    @property
    def conversation_id(self) -> str:
        return self.wa_id

    def _sent(self) -> list[dict[str, Any]]:
        return [m for m in list(self.graph.messages) if m.get("to") == self.wa_id]

    def _post(self, item: dict[str, Any], message_id: str) -> list[BotMessage]:
        before = len(self._sent())
        body, headers = signed_request(webhook_payload(item), self.app_secret)
        answer = requests.post(self.url, data=body, headers=headers, timeout=TURN_TIMEOUT)
        answer.raise_for_status()
        # The channel answers 200 at once and marks the stored message done once its turn,
        # answers included, has gone out.
        deadline = time.monotonic() + TURN_TIMEOUT
        query = select(WhatsAppInbound.status).where(WhatsAppInbound.message_id == message_id)
        while True:
            with self.engine.connect() as connection:
                status = connection.execute(query).scalar()
            if status is not None and status != InboundStatus.PENDING:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"no answer within {TURN_TIMEOUT:.0f} s")
            time.sleep(0.05)
        if status == InboundStatus.FAILED:
            raise RuntimeError("the WhatsApp channel marked the message failed")
        return graph_messages(self._sent()[before:])

    def _next_id(self) -> str:
        self.counter += 1
        return f"wamid.eval.{secrets.token_hex(6)}.{self.counter}"

    def say(self, text: str) -> list[BotMessage]:
        message_id = self._next_id()
        item = text_message(self.wa_id, text, message_id, int(time.time()))
        return self._post(item, message_id)

    def press(self, choice: Choice) -> list[BotMessage]:
        message_id = self._next_id()
        if choice.kind == "list":
            item = interactive_reply(
                self.wa_id, "list_reply", choice.payload, choice.title, message_id
            )
        else:
            item = interactive_reply(
                self.wa_id, "button_reply", choice.payload, choice.title, message_id
            )
        return self._post(item, message_id)


# --------------------------------------------------------------------------- the run


@dataclass
class Result:
    conversation: Conversation
    persona: str | None
    failures: list[str]
    transcript: list[Exchange]
    seconds: float

    @property
    def passed(self) -> bool:
        return not self.failures

    def transcript_text(self) -> str:
        lines = []
        verified = False
        for exchange in self.transcript:
            mark = "  ← verified" if exchange.verified_after and not verified else ""
            verified = exchange.verified_after
            lines.append(f"  debtor: {exchange.said}{mark}")
            for message in exchange.replies:
                text = message.text.replace("\n", "\n          ")
                lines.append(f"  bot:    {text}")
                if message.choices:
                    lines.append("          " + " ".join(f"[{c.title}]" for c in message.choices))
        return "\n".join(lines)


class Evaluation:
    """The servers started once on a fresh demo database; :meth:`run` one conversation on the
    database as seeded. Use as a context manager."""

    def __init__(self, model: Path, workdir: Path | None = None) -> None:
        self.model = model
        self.workdir = workdir
        self.run_id = secrets.token_hex(3)
        self._stack = ExitStack()
        self.servers: Servers | None = None
        self.graph: FakeGraphAPI | None = None
        self.engine: Engine | None = None

    def __enter__(self) -> Evaluation:
        try:
            self._start()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _start(self) -> None:
        workdir = self.workdir or Path(tempfile.mkdtemp(prefix="cobranza-eval-"))
        if self.workdir is None:
            self._stack.callback(shutil.rmtree, workdir, True)
        self.database = workdir / "eval.db"
        self.saved = workdir / "seeded.db"
        url = seed_database(self.database)
        snapshot(self.database, self.saved)
        self.before = last_ids(self.saved)
        token, self.app_secret = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
        self.graph = self._stack.enter_context(FakeGraphAPI(token, _PHONE_NUMBER_ID))
        credentials = workdir / "credentials.yml"
        credentials.write_text(
            "cobranza.channels.rest.LocalRestInput:\ncobranza.channels.whatsapp.WhatsAppInput:\n",
            encoding="utf-8",
        )
        env = {
            "RASA_CREDENTIALS": str(credentials),
            "WHATSAPP_VERIFY_TOKEN": secrets.token_urlsafe(16),
            "WHATSAPP_APP_SECRET": self.app_secret,
            "WHATSAPP_ACCESS_TOKEN": token,
            "WHATSAPP_PHONE_NUMBER_ID": _PHONE_NUMBER_ID,
            "WHATSAPP_API_URL": self.graph.base_url,
            # Conversations follow each other quickly from one address: no flood limit here.
            "COBRANZA_RATE_LIMIT_PER_MINUTE": "100000",
            "COBRANZA_RATE_LIMIT_PER_ADDRESS_PER_MINUTE": "100000",
        }
        self.servers = self._stack.enter_context(running_servers(url, self.model, extra_env=env))
        self.engine = db.make_engine(url)
        self._stack.callback(self.engine.dispose)

    def _channel(self, conversation: Conversation) -> _Rest | _WhatsApp:
        assert self.servers is not None and self.graph is not None and self.engine is not None
        if conversation.channel == "rest":
            return _Rest(self.servers, f"eval-{self.run_id}-{conversation.id}")
        url = f"http://127.0.0.1:{self.servers.rasa_port}/webhooks/whatsapp/webhook"
        return _WhatsApp(
            url, self.app_secret, self.graph, self.engine, whatsapp_id(conversation.debtor)
        )

    def _verified(self, conversation_id: str, debtor: str) -> bool:
        """Is the debtor verified in this conversation (the server's record)?"""
        assert self.engine is not None
        query = select(IdentityVerification.id).where(
            IdentityVerification.conversation_id == conversation_id,
            IdentityVerification.phone == debtor,
            IdentityVerification.id > self.before[IdentityVerification.__tablename__],
        )
        with self.engine.connect() as connection:
            return connection.execute(query).first() is not None

    def run(self, conversation: Conversation) -> Result:
        assert self.engine is not None and self.servers is not None
        started = time.monotonic()
        restore(self.database, self.saved)
        base = baseline(self.engine, conversation.debtor)
        failures: list[str] = []
        transcript: list[Exchange] = []
        if base.known != conversation.documented:
            failures.append(
                f"debtor: {conversation.debtor} is in the portfolio but not a documented debtor"
            )
            return Result(conversation, base.persona, failures, transcript, 0.0)
        channel = self._channel(conversation)
        verified = False
        for turn in conversation.turns:
            try:
                if isinstance(turn, Press):
                    choice = pick(turn, transcript)
                    said, replies = f"[press {choice.title}]", channel.press(choice)
                else:
                    said, replies = turn, channel.say(turn)
            except (LookupError, OSError, requests.RequestException, RuntimeError) as exc:
                failures.append(f"turn {len(transcript) + 1} ({turn}): {type(exc).__name__}: {exc}")
                break
            verified = verified or self._verified(channel.conversation_id, conversation.debtor)
            transcript.append(Exchange(said, replies, verified))
        if self.servers.process.poll() is not None:
            raise RuntimeError("the servers stopped:\n" + self.servers.log.read_text()[-3000:])
        today = local_today(SystemClock(), base.time_zone)
        outcome = read_outcome(
            self.engine, channel.conversation_id, conversation.debtor, self.before, base
        )
        failures += compare(conversation.expect, outcome, conversation.debtor, today)
        failures += disclosures(transcript, base.secrets)
        failures += missing_phrases(conversation.expect, transcript)
        return Result(conversation, base.persona, failures, transcript, time.monotonic() - started)
