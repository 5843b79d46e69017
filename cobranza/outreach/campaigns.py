"""Outreach campaigns: which debtors get which template, and when (docs/outreach.md).

One file per campaign in ``campaigns/``, checked against ``campaigns.schema.json`` and then
across files by :func:`load_campaigns`: names unique, every template and persona exists, every
step can actually fire for the campaign's audience. Problems name the file and the place
(``campaigns/temprana.yml: steps[2].send_at: …``), all at once, so a designer fixes them in one
pass. Pure: no database; :mod:`cobranza.outreach.schedule` turns a campaign and a debtor's facts
into the steps due on a day.

Deliberately absent:

* **Consent** is not a campaign setting. Every business-initiated message needs the debtor's
  WhatsApp consent, and the compliance engine checks it (with the contact hours, the daily and
  weekly caps, opt-outs, disputes and third-party blocks) when the message is about to go out
  (cobranza/compliance/). A ``consent:`` key is an unknown key: rejected.

Score bands (``audience.score_bands: ["A", "B"]``) select debtors by their current
propensity-to-pay band (cobranza/services/scores.py; ``A`` most likely to pay … ``E``): only the
letters A–E, each once (the schema says so). A debtor not scored yet has no band and is outside
every audience that lists bands. Like personas and balance, the bands apply to every step of the
campaign, the commitment steps included. A score never reaches the compliance engine: it only
chooses and orders what the engine is then asked about.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from cobranza.domain.delinquency import BUCKETS
from cobranza.domain.vocabulary import CommitmentKind
from cobranza.outreach.files import (
    CampaignError,
    OutreachFilesError,
    read_files,
    schema_problems,
    unique_names,
)
from cobranza.outreach.templates import Template, read_templates

__all__ = [
    "ANCHORS",
    "Audience",
    "Campaign",
    "CampaignError",
    "Step",
    "load_campaigns",
    "load_outreach",
    "read_campaigns",
]

SCHEMA_PATH = Path(__file__).with_name("campaigns.schema.json")

DELINQUENCY = "delinquency"
PROMISE = CommitmentKind.PROMISE.value
INSTALLMENT = CommitmentKind.INSTALLMENT.value
BROKEN_PROMISE = "broken_promise"
ANCHORS = (DELINQUENCY, PROMISE, INSTALLMENT, BROKEN_PROMISE)

# The legal contact window is 07:00–22:00 local (cobranza/config.py, contact_hours); a step's
# preferred hour must leave at least a minute inside it.
EARLIEST_SEND = time(7, 0)
LATEST_SEND = time(21, 59)

# Which key places each anchor's step in time; the others are refused for that anchor.
_TIMING_KEYS = ("days_past_due", "every_days", "offset_days", "offset_business_days")
_ALLOWED_TIMING = {
    DELINQUENCY: ({"days_past_due"}, {"every_days"}),
    PROMISE: ({"offset_days"}, set()),
    INSTALLMENT: ({"offset_days"}, set()),
    BROKEN_PROMISE: ({"offset_business_days"}, set()),
}

# The days past due each bucket covers (cobranza/domain/delinquency.py); 90+ has no end.
_BUCKET_DAYS: dict[str, tuple[int, int | None]] = dict(
    zip(BUCKETS, ((1, 30), (31, 60), (61, 90), (91, None)), strict=True)
)


@dataclass(frozen=True)
class Audience:
    """Who a campaign is for. An empty tuple or ``None`` means "no filter"."""

    buckets: tuple[str, ...] = ()
    min_days_past_due: int | None = None
    max_days_past_due: int | None = None
    personas: tuple[str, ...] = ()
    min_balance: Decimal | None = None
    max_balance: Decimal | None = None
    score_bands: tuple[str, ...] = ()

    def describe(self) -> list[str]:
        lines = []
        if self.buckets:
            lines.append(f"tramos: {', '.join(self.buckets)}")
        if self.min_days_past_due is not None or self.max_days_past_due is not None:
            lines.append(
                f"días de atraso: {_range(self.min_days_past_due, self.max_days_past_due)}"
            )
        if self.personas:
            lines.append(f"personas: {', '.join(self.personas)}")
        if self.min_balance is not None or self.max_balance is not None:
            lines.append(f"saldo (pesos): {_range(self.min_balance, self.max_balance)}")
        if self.score_bands:
            lines.append(f"bandas de puntaje: {', '.join(self.score_bands)} (sin puntaje: fuera)")
        return lines or ["todos los deudores"]


@dataclass(frozen=True)
class Step:
    """One message of a campaign. ``anchor`` says what the moment is counted from; only the
    timing fields of that anchor are set (the others are ``None``)."""

    name: str
    anchor: str
    template: str
    send_at: time
    valid_for: timedelta
    days_past_due: int | None = None
    every_days: int | None = None
    offset_days: int | None = None
    offset_business_days: int | None = None

    def describe(self) -> str:
        if self.anchor == DELINQUENCY:
            when = f"al llegar a {_days(self.days_past_due or 0)} de atraso"
            if self.every_days:
                when += f" y luego cada {_days(self.every_days)} mientras esté en la audiencia"
        elif self.anchor == BROKEN_PROMISE:
            n = self.offset_business_days or 0
            when = (
                "el día en que se incumple una promesa (o el siguiente día hábil)"
                if n == 0
                else f"{n} {'día hábil' if n == 1 else 'días hábiles'} después de incumplir "
                "una promesa"
            )
        else:
            what = "la promesa" if self.anchor == PROMISE else "la parcialidad"
            offset = self.offset_days or 0
            if offset == 0:
                when = f"el día que vence {what}"
            elif offset < 0:
                when = f"{_days(-offset)} antes de que venza {what}"
            else:
                when = f"{_days(offset)} después de que venza {what}"
        hours = int(self.valid_for.total_seconds() // 3600)
        return f"{when}, a las {self.send_at:%H:%M}, vigente {hours} h"


@dataclass(frozen=True)
class Campaign:
    name: str
    description: str
    enabled: bool
    priority: int
    audience: Audience
    steps: tuple[Step, ...]
    max_per_debtor_per_30_days: int
    source: str = ""


def _days(n: int) -> str:
    return f"{n} día" if n == 1 else f"{n} días"


def _range(low: Any, high: Any) -> str:
    if low is not None and high is not None:
        return f"{low} a {high}"
    if low is not None:
        return f"{low} o más"
    return f"hasta {high}"


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _audience_days(audience: Audience) -> list[tuple[int, int | None]]:
    """The intervals of days past due the audience allows (buckets ∩ range)."""
    spans = [_BUCKET_DAYS[b] for b in audience.buckets] or [(0, None)]
    low_limit = audience.min_days_past_due or 0
    high_limit = audience.max_days_past_due
    result = []
    for low, high in spans:
        lo = max(low, low_limit)
        hi = high if high_limit is None else (high_limit if high is None else min(high, high_limit))
        if hi is None or lo <= hi:
            result.append((lo, hi))
    return result


def _reachable(spans: list[tuple[int, int | None]], step: Step) -> bool:
    """Whether some day of the audience's days past due is one this step fires on."""
    first = step.days_past_due or 0
    for low, high in spans:
        if high is not None and high < first:
            continue
        if low <= first and (high is None or first <= high):
            return True
        if step.every_days and first < low:
            # the first repetition at or after ``low``
            k = -(-(low - first) // step.every_days)
            day = first + k * step.every_days
            if high is None or day <= high:
                return True
    return False


def _build_step(raw: dict[str, Any]) -> Step:
    hour, minute = (int(part) for part in raw["send_at"].split(":"))
    return Step(
        name=raw["name"],
        anchor=raw["anchor"],
        template=raw["template"],
        send_at=time(hour, minute),
        valid_for=timedelta(hours=raw["valid_for_hours"]),
        days_past_due=raw.get("days_past_due"),
        every_days=raw.get("every_days"),
        offset_days=raw.get("offset_days"),
        offset_business_days=raw.get("offset_business_days"),
    )


def _check_one(
    label: str,
    data: dict[str, Any],
    templates: Collection[str],
    personas: Collection[str],
) -> tuple[Campaign | None, list[str]]:
    problems = schema_problems(data, SCHEMA_PATH, label)
    if problems:
        return None, problems
    raw_audience = data["audience"]
    dpd = raw_audience.get("days_past_due") or {}
    balance = raw_audience.get("balance") or {}
    audience = Audience(
        buckets=tuple(raw_audience.get("buckets") or ()),
        min_days_past_due=dpd.get("min"),
        max_days_past_due=dpd.get("max"),
        personas=tuple(raw_audience.get("personas") or ()),
        min_balance=_decimal(balance.get("min")),
        max_balance=_decimal(balance.get("max")),
        score_bands=tuple(raw_audience.get("score_bands") or ()),
    )
    for key, spec in (("days_past_due", dpd), ("balance", balance)):
        if "min" in spec and "max" in spec and spec["min"] > spec["max"]:
            problems.append(
                f"{label}: audience.{key}: min ({spec['min']}) mayor que max ({spec['max']})"
            )
    for number, persona in enumerate(audience.personas, start=1):
        if persona not in personas:
            problems.append(
                f"{label}: audience.personas[{number}]: la persona '{persona}' no existe en "
                f"persona_profiles/ (hay: {', '.join(sorted(personas)) or 'ninguna'})"
            )
    spans = _audience_days(audience)
    if not problems and not spans:
        problems.append(
            f"{label}: audience: ningún día de atraso cumple a la vez buckets y days_past_due"
        )
    seen: set[str] = set()
    steps: list[Step] = []
    for number, raw in enumerate(data["steps"], start=1):
        where = f"{label}: steps[{number}]"
        if raw["name"] in seen:
            problems.append(f"{where}.name: el paso '{raw['name']}' ya existe en esta campaña")
        seen.add(raw["name"])
        required, optional = _ALLOWED_TIMING[raw["anchor"]]
        for key in sorted(required - set(raw)):
            problems.append(f"{where}: falta {key} (obligatorio con anchor: {raw['anchor']})")
        for key in _TIMING_KEYS:
            if key in raw and key not in required | optional:
                problems.append(f"{where}.{key}: no aplica con anchor: {raw['anchor']}")
        if raw["template"] not in templates:
            problems.append(
                f"{where}.template: la plantilla '{raw['template']}' no existe en templates/"
            )
        step = _build_step(raw)
        if not EARLIEST_SEND <= step.send_at <= LATEST_SEND:
            problems.append(
                f"{where}.send_at: {raw['send_at']} fuera del horario permitido "
                f"({EARLIEST_SEND:%H:%M}–{LATEST_SEND:%H:%M}, hora local del deudor)"
            )
        if step.every_days and step.valid_for > timedelta(days=step.every_days):
            problems.append(
                f"{where}.valid_for_hours: {raw['valid_for_hours']} h es más que la repetición "
                f"(every_days: {step.every_days}); un envío alcanzaría al siguiente"
            )
        if (
            step.anchor == DELINQUENCY
            and step.days_past_due is not None
            and spans
            and not _reachable(spans, step)
        ):
            problems.append(
                f"{where}.days_past_due: {step.days_past_due} nunca cae dentro de la audiencia "
                f"({'; '.join(audience.describe())}); este paso no se enviaría nunca"
            )
        steps.append(step)
    if problems:
        return None, problems
    campaign = Campaign(
        name=data["name"],
        description=" ".join(data["description"].split()),
        enabled=data["enabled"],
        priority=data["priority"],
        audience=audience,
        steps=tuple(steps),
        max_per_debtor_per_30_days=data["limits"]["max_per_debtor_per_30_days"],
        source=label,
    )
    return campaign, []


def read_campaigns(
    directory: Path, templates: Collection[str], personas: Collection[str]
) -> tuple[dict[str, Campaign], list[str]]:
    """The valid campaigns and every problem found (see :func:`load_campaigns`)."""
    found, problems = read_files(directory, "campañas")
    unique, _declared, repeated = unique_names(found, "la campaña")
    problems.extend(repeated)
    campaigns: dict[str, Campaign] = {}
    for _path, label, data in unique:
        campaign, errors = _check_one(label, data, templates, personas)
        problems.extend(errors)
        if campaign is not None:
            campaigns[campaign.name] = campaign
    return campaigns, problems


def load_campaigns(
    directory: Path, *, templates: Collection[str] | Mapping[str, Any], personas: Collection[str]
) -> dict[str, Campaign]:
    """Every campaign in ``directory/*.yml`` by name, checked against the template names and
    the persona names given; raises :class:`CampaignError` listing every problem."""
    campaigns, problems = read_campaigns(directory, set(templates), set(personas))
    if problems:
        raise CampaignError(problems)
    return campaigns


def by_priority(campaigns: Mapping[str, Campaign]) -> list[Campaign]:
    """Highest priority first; equal priorities by name, so the order never depends on the
    file system."""
    return sorted(campaigns.values(), key=lambda c: (-c.priority, c.name))


def load_outreach(
    campaigns_dir: Path,
    templates_dir: Path,
    *,
    personas: Collection[str],
    intents: Collection[str],
) -> tuple[dict[str, Campaign], dict[str, Template]]:
    """Both folders at once, cross-checked; raises :class:`OutreachFilesError` listing the
    problems of the templates and of the campaigns together. A campaign naming a template
    whose file is broken is not also told the template does not exist."""
    templates, declared, problems = read_templates(templates_dir, intents)
    campaigns, more = read_campaigns(campaigns_dir, declared, set(personas))
    if problems or more:
        raise OutreachFilesError(problems + more)
    return campaigns, templates
