"""The compliance invariants, checked from what the (fake) Graph API *received*.

The dispatcher asks the compliance engine before every send; this module does not trust that.
It starts from the other end — the messages that actually reached Meta's endpoint — joins each
to its ``outreach_messages`` row by the ``wamid`` Meta returned, and re-derives every rule from
the database at the end of the run, with its own small code rather than the engine's:

* **window**: every send instant lies within the contact hours (07:00–22:00) in the debtor's
  zone — the zone resolved from the address exactly as the engine does
  (:func:`cobranza.compliance.rules.debtor_zone`), not the planner's stored column;
* **weekday** (when ``weekdays_only`` is on): Monday to Friday, local day;
* **consent**: the consent history up to the send instant says *granted* for WhatsApp;
* **opt-out**: no revocation (on any channel) at or before the send instant;
* **once**: no outreach row sent twice, no message without a row, no two rows for one debtor ×
  campaign × step × day, each message to its row's debtor;
* **caps**: at most ``daily_contact_cap`` business-initiated contacts per debtor per local day
  and ``weekly_contact_cap`` in any 7 × 24 hours (the history before the run counts, as for the
  engine: outbound contact attempts not marked ``not_sent``);
* nothing the fake refused (a template it does not know, a wrong parameter count).

Each violation is one line a person reads (Spanish, phones masked)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from cobranza.compliance import rules
from cobranza.config import Settings
from cobranza.db.models import Consent, ContactAttempt, Debtor, OutreachMessage
from cobranza.domain.phones import mask_phone, whatsapp_id
from cobranza.domain.vocabulary import ContactOutcome

CHANNEL = "whatsapp"
_CHUNK = 500


@dataclass(frozen=True)
class Received:
    """One message the Graph API accepted: the ``wamid`` it answered and the payload."""

    wamid: str
    payload: Mapping[str, Any]


@dataclass(frozen=True)
class _Send:
    index: int
    row: OutreachMessage
    at: datetime


def _rows(session: Session, wamids: Sequence[str]) -> dict[str, OutreachMessage]:
    found: dict[str, OutreachMessage] = {}
    for start in range(0, len(wamids), _CHUNK):
        chunk = list(wamids[start : start + _CHUNK])
        for row in session.execute(
            select(OutreachMessage).where(OutreachMessage.wamid.in_(chunk))
        ).scalars():
            found[row.wamid] = row
    return found


def _by_phone(session: Session, model: Any, phones: Iterable[str], *where: Any) -> dict[str, list]:
    out: dict[str, list[Any]] = defaultdict(list)
    phones = sorted(set(phones))
    column = model.phone if model is Debtor else model.debtor_phone
    for start in range(0, len(phones), _CHUNK):
        chunk = phones[start : start + _CHUNK]
        for row in session.execute(select(model).where(column.in_(chunk), *where)).scalars():
            out[row.phone if model is Debtor else row.debtor_phone].append(row)
    return out


def violations(
    session: Session,
    received: Sequence[Received],
    settings: Settings,
    *,
    since: datetime,
    refused: Sequence[str] = (),
) -> list[str]:
    """Every broken invariant, one line each (empty: none). ``since``: when the run began
    (contacts before it are history for the caps); ``refused``: what the Graph API refused."""
    found: list[str] = [f"la API de Graph rechazó un envío: {reason}" for reason in refused]
    rows = _rows(session, [r.wamid for r in received])
    sends: list[_Send] = []
    per_row: Counter[int] = Counter()
    for index, message in enumerate(received, start=1):
        row = rows.get(message.wamid)
        if row is None:
            found.append(f"mensaje #{index}: ninguna fila de outreach tiene su wamid")
            continue
        per_row[row.id] += 1
        if message.payload.get("to") != whatsapp_id(row.debtor_phone):
            found.append(
                f"mensaje #{index} (fila {row.id}): enviado a otro número que el de su deudor"
            )
        if row.sent_at is None:
            found.append(f"mensaje #{index} (fila {row.id}): sin instante de envío registrado")
            continue
        sends.append(_Send(index, row, row.sent_at))
    for row_id, count in sorted(per_row.items()):
        if count > 1:
            found.append(f"fila {row_id}: enviada {count} veces")
    keys: dict[tuple[str, str, str, Any], set[int]] = defaultdict(set)
    for send in sends:
        row = send.row
        keys[(row.debtor_phone, row.campaign, row.step, row.planned_on)].add(row.id)
    for (phone, campaign, step, day), ids in sorted(keys.items(), key=lambda kv: min(kv[1])):
        if len(ids) > 1:
            found.append(
                f"{mask_phone(phone)}: {len(ids)} filas enviadas para {campaign}/{step} el {day}"
            )
    phones = {s.row.debtor_phone for s in sends}
    debtors = {p: rows_[0] for p, rows_ in _by_phone(session, Debtor, phones).items()}
    consents = _by_phone(session, Consent, phones)
    history = _by_phone(
        session,
        ContactAttempt,
        phones,
        ContactAttempt.direction == "outbound",
        ContactAttempt.outcome != ContactOutcome.NOT_SENT,
        ContactAttempt.attempted_at < since,
    )
    by_phone: dict[str, list[_Send]] = defaultdict(list)
    for send in sends:
        by_phone[send.row.debtor_phone].append(send)
    for phone in sorted(by_phone):
        found += _per_debtor(
            phone,
            sorted(by_phone[phone], key=lambda s: (s.at, s.index)),
            debtors.get(phone),
            consents.get(phone, []),
            [a.attempted_at for a in history.get(phone, [])],
            settings,
        )
    return found


def _per_debtor(
    phone: str,
    sends: list[_Send],
    debtor: Debtor | None,
    consents: list[Consent],
    earlier: list[datetime],
    settings: Settings,
) -> list[str]:
    found: list[str] = []
    who = mask_phone(phone)
    zone = ZoneInfo(rules.debtor_zone(phone, debtor, settings.default_time_zone).zone)
    records = [
        rules.ConsentRecord(c.id, c.channel, c.status, c.source, c.recorded_at) for c in consents
    ]
    for send in sends:
        local = send.at.astimezone(zone)
        what = f"{who} ({send.row.campaign}/{send.row.step}, {local:%Y-%m-%d %H:%M} {zone.key})"
        if not rules.in_contact_window(local, settings.contact_hours):
            found.append(f"{what}: fuera del horario permitido")
        if settings.outreach.weekdays_only and local.weekday() >= 5:
            found.append(f"{what}: en fin de semana")
        state, _ = rules.consent_state([r for r in records if r.recorded_at <= send.at], CHANNEL)
        if state == rules.REVOKED:
            found.append(f"{what}: después de la baja (consentimiento revocado)")
        elif state != rules.GRANTED:
            found.append(f"{what}: sin consentimiento vigente")
    instants = sorted([*earlier, *(s.at for s in sends)])
    per_day: Counter[Any] = Counter(at.astimezone(zone).date() for at in instants)
    for day in sorted({s.at.astimezone(zone).date() for s in sends}):
        if per_day[day] > settings.daily_contact_cap:
            found.append(
                f"{who}: {per_day[day]} contactos el {day} (límite diario "
                f"{settings.daily_contact_cap})"
            )
    for send in sends:
        window = [at for at in instants if send.at - rules.WEEK <= at <= send.at]
        if len(window) > settings.weekly_contact_cap:
            found.append(
                f"{who}: {len(window)} contactos en los 7 días hasta "
                f"{send.at.astimezone(zone):%Y-%m-%d %H:%M} (límite semanal "
                f"{settings.weekly_contact_cap})"
            )
    return found
