"""Mexican business days and which campaign steps fall on a day."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from cobranza.outreach.campaigns import Audience, Campaign, Step
from cobranza.outreach.schedule import (
    BrokenPromise,
    Commitment,
    DebtorFacts,
    DueStep,
    add_business_days,
    commitment_moments,
    due_steps,
    holidays,
    in_audience,
    installment_reference,
    is_business_day,
)

# --- business days -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        (
            2025,
            {
                "2025-01-01",
                "2025-02-03",
                "2025-03-17",
                "2025-05-01",
                "2025-09-16",
                "2025-11-17",
                "2025-12-25",
            },
        ),
        (
            2024,
            {
                "2024-01-01",
                "2024-02-05",
                "2024-03-18",
                "2024-05-01",
                "2024-09-16",
                "2024-10-01",
                "2024-11-18",
                "2024-12-25",
            },
        ),
        (
            2026,
            {
                "2026-01-01",
                "2026-02-02",
                "2026-03-16",
                "2026-05-01",
                "2026-09-16",
                "2026-11-16",
                "2026-12-25",
            },
        ),
    ],
)
def test_holidays_of_lft_article_74(year: int, expected: set[str]) -> None:
    assert {d.isoformat() for d in holidays(year)} == expected


def test_inauguration_day_every_six_years_from_2024() -> None:
    assert date(2030, 10, 1) in holidays(2030) and date(2036, 10, 1) in holidays(2036)
    assert all(date(y, 10, 1) not in holidays(y) for y in (2018, 2025, 2027, 2029, 2031))


@pytest.mark.parametrize(
    ("day", "business"),
    [
        ("2026-03-13", True),  # Friday
        ("2026-03-14", False),  # Saturday
        ("2026-03-15", False),  # Sunday
        ("2026-03-16", False),  # third Monday of March
        ("2026-03-17", True),
        ("2026-12-12", False),  # Saturday anyway
        ("2026-11-02", True),  # Día de Muertos is customary, not mandatory
        ("2026-04-03", True),  # Good Friday likewise
    ],
)
def test_is_business_day(day: str, business: bool) -> None:
    assert is_business_day(date.fromisoformat(day)) is business


@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-03-06", 1, "2026-03-09"),  # Friday → Monday
        ("2026-03-13", 1, "2026-03-17"),  # Friday before a Monday holiday → Tuesday
        ("2026-11-13", 1, "2026-11-17"),
        ("2026-03-14", 1, "2026-03-17"),  # Saturday, holiday Monday
        ("2026-12-24", 1, "2026-12-28"),  # Thursday → 25 Dec → Monday
        ("2026-12-31", 1, "2027-01-04"),  # across the year and 1 January
        ("2026-03-09", 4, "2026-03-13"),
        ("2026-03-09", 5, "2026-03-17"),  # skips the holiday Monday
        ("2026-03-17", -1, "2026-03-13"),
        ("2026-03-13", 0, "2026-03-13"),
        ("2026-03-14", 0, "2026-03-17"),
    ],
)
def test_add_business_days(start: str, n: int, expected: str) -> None:
    assert add_business_days(date.fromisoformat(start), n) == date.fromisoformat(expected)


# --- campaigns -----------------------------------------------------------------------------------


def delinquency(name: str, dpd: int, every: int | None = None) -> Step:
    return Step(
        name=name,
        anchor="delinquency",
        template="aviso",
        send_at=time(10, 0),
        valid_for=timedelta(hours=48),
        days_past_due=dpd,
        every_days=every,
    )


def commitment_step(name: str, anchor: str, offset: int) -> Step:
    return Step(
        name=name,
        anchor=anchor,
        template="recordatorio",
        send_at=time(9, 0),
        valid_for=timedelta(hours=8),
        offset_days=offset,
    )


def broken_step(offset: int = 1) -> Step:
    return Step(
        name="seguimiento",
        anchor="broken_promise",
        template="otra_fecha",
        send_at=time(11, 0),
        valid_for=timedelta(hours=24),
        offset_business_days=offset,
    )


def campaign(steps: tuple[Step, ...], audience: Audience | None = None, **kw: Any) -> Campaign:
    return Campaign(
        name=kw.get("name", "c"),
        description="",
        enabled=kw.get("enabled", True),
        priority=kw.get("priority", 70),
        audience=audience or Audience(),
        steps=steps,
        max_per_debtor_per_30_days=5,
    )


def facts(dpd: int = 0, **kw: Any) -> DebtorFacts:
    return DebtorFacts(
        phone="+525512345678",
        persona=kw.get("persona", "olvidadizo"),
        days_past_due=dpd,
        balance=kw.get("balance", Decimal("8450.00")),
        commitments=kw.get("commitments", ()),
        broken=kw.get("broken", ()),
        score_band=kw.get("band"),
    )


DAY = date(2026, 3, 10)
EARLY = campaign(
    (delinquency("primer_aviso", 1), delinquency("seguimiento", 5, every=7)),
    Audience(buckets=("1-30",)),
    priority=70,
)


@pytest.mark.parametrize(
    ("dpd", "steps"),
    [
        (0, []),
        (1, ["primer_aviso"]),
        (2, []),
        (4, []),
        (5, ["seguimiento"]),
        (6, []),
        (12, ["seguimiento"]),
        (19, ["seguimiento"]),
        (26, ["seguimiento"]),
        (27, []),
        (33, []),  # 5 + 4×7 = 33, but the debtor has left the 1-30 bucket
    ],
)
def test_delinquency_steps_and_repetition(dpd: int, steps: list[str]) -> None:
    assert [d.step for d in due_steps(EARLY, facts(dpd), DAY)] == steps


def test_due_step_carries_what_the_planner_needs() -> None:
    assert due_steps(EARLY, facts(1), DAY) == [
        DueStep(
            campaign="c",
            step="primer_aviso",
            template="aviso",
            reference=None,
            send_at=time(10, 0),
            valid_for=timedelta(hours=48),
            priority=70,
        )
    ]


def test_a_step_without_repetition_fires_once() -> None:
    once = campaign((delinquency("unico", 31),), Audience(buckets=("31-60",)))
    assert [len(due_steps(once, facts(d), DAY)) for d in (30, 31, 38, 45)] == [0, 1, 0, 0]


@pytest.mark.parametrize(
    ("audience", "debtor", "expected"),
    [
        (Audience(), facts(0), True),
        (Audience(buckets=("1-30",)), facts(0), False),  # al corriente: in no bucket
        (Audience(buckets=("1-30", "90+")), facts(91), True),
        (Audience(buckets=("61-90",)), facts(91), False),
        (Audience(min_days_past_due=10, max_days_past_due=20), facts(9), False),
        (Audience(min_days_past_due=10, max_days_past_due=20), facts(20), True),
        (Audience(min_days_past_due=10, max_days_past_due=20), facts(21), False),
        (Audience(personas=("olvidadizo",)), facts(3), True),
        (Audience(personas=("negociador",)), facts(3), False),
        (Audience(personas=("negociador",)), facts(3, persona=None), False),
        (Audience(min_balance=Decimal("8450.00")), facts(3), True),
        (Audience(min_balance=Decimal("8450.01")), facts(3), False),
        (Audience(max_balance=Decimal("8450")), facts(3), True),
        (Audience(max_balance=Decimal("8449.99")), facts(3), False),
        (Audience(score_bands=("A", "B")), facts(3, band="A"), True),
        (Audience(score_bands=("A", "B")), facts(3, band="B"), True),
        (Audience(score_bands=("A", "B")), facts(3, band="C"), False),
        (Audience(score_bands=("A", "B")), facts(3), False),  # not scored yet: outside
        (Audience(score_bands=("A", "B")), facts(3, band="a"), False),
        (Audience(score_bands=("A", "B")), facts(3, band=""), False),
        (Audience(), facts(3), True),  # no bands listed: scored or not, inside
        (Audience(buckets=("1-30",), score_bands=("E",)), facts(45, band="E"), False),
    ],
)
def test_in_audience(audience: Audience, debtor: DebtorFacts, expected: bool) -> None:
    assert in_audience(campaign((), audience), debtor) is expected


def test_a_disabled_campaign_has_nothing_due() -> None:
    off = campaign(EARLY.steps, EARLY.audience, enabled=False)
    assert due_steps(off, facts(1), DAY) == []


def test_a_commitment_to_come_pauses_delinquency_steps() -> None:
    promise = Commitment("promise", "PP-20260301-ABCDEF", DAY + timedelta(days=2))
    assert due_steps(EARLY, facts(5, commitments=(promise,)), DAY) == []
    # once its day has passed (kept, or broken and reported as such) dunning resumes
    past = Commitment("promise", "PP-20260301-ABCDEF", DAY - timedelta(days=1))
    assert [d.step for d in due_steps(EARLY, facts(5, commitments=(past,)), DAY)] == ["seguimiento"]


REMINDERS = campaign(
    (
        commitment_step("dia_anterior", "promise", -1),
        commitment_step("dia_de_pago", "promise", 0),
        commitment_step("tres_dias_antes", "installment", -3),
        commitment_step("parcialidad_hoy", "installment", 0),
    ),
    Audience(buckets=("90+",), personas=("olvidadizo",)),
    priority=100,
)


def test_promise_and_installment_offsets() -> None:
    folio = "CV-20260201-XYZ234"
    commitments = (
        Commitment("promise", "PP-20260301-AAAAAA", date(2026, 3, 11)),
        Commitment("promise", "PP-20260302-BBBBBB", date(2026, 3, 10)),
        Commitment("installment", installment_reference(folio, 2), date(2026, 3, 13)),
        Commitment("installment", installment_reference(folio, 3), date(2026, 3, 10)),
    )
    # The audience's bucket (90+) does not apply to commitment steps: dpd 12 still gets them.
    due = due_steps(REMINDERS, facts(12, commitments=commitments), DAY)
    assert [(d.step, d.reference) for d in due] == [
        ("dia_anterior", "PP-20260301-AAAAAA"),
        ("dia_de_pago", "PP-20260302-BBBBBB"),
        ("tres_dias_antes", "CV-20260201-XYZ234#2"),
        ("parcialidad_hoy", "CV-20260201-XYZ234#3"),
    ]
    assert all(d.priority == 100 and d.send_at == time(9, 0) for d in due)
    assert due_steps(REMINDERS, facts(12, commitments=commitments), DAY + timedelta(days=5)) == []


def test_commitment_steps_obey_personas_and_balance() -> None:
    commitments = (Commitment("promise", "PP-1", DAY),)
    assert due_steps(REMINDERS, facts(3, commitments=commitments, persona="estandar"), DAY) == []
    rich = campaign(REMINDERS.steps, Audience(max_balance=Decimal("1000")))
    assert due_steps(rich, facts(3, commitments=commitments), DAY) == []


def test_commitment_steps_obey_score_bands_too() -> None:
    commitments = (Commitment("promise", "PP-1", DAY + timedelta(days=1)),)
    likely = campaign(REMINDERS.steps, Audience(score_bands=("A",)))
    assert [
        d.step for d in due_steps(likely, facts(3, commitments=commitments, band="A"), DAY)
    ] == ["dia_anterior"]
    assert due_steps(likely, facts(3, commitments=commitments, band="B"), DAY) == []
    assert due_steps(likely, facts(3, commitments=commitments), DAY) == []


def test_a_commitment_kind_must_be_known() -> None:
    with pytest.raises(ValueError, match="promise or installment"):
        Commitment("promesa", "PP-1", DAY)


@pytest.mark.parametrize(
    ("broken_on", "offset", "due_on"),
    [
        ("2026-03-09", 1, "2026-03-10"),  # Monday → Tuesday
        ("2026-03-06", 1, "2026-03-09"),  # Friday → Monday
        ("2026-03-13", 1, "2026-03-17"),  # Friday before the third Monday of March → Tuesday
        ("2026-03-07", 1, "2026-03-09"),  # Saturday → Monday
        ("2026-03-06", 2, "2026-03-10"),
        ("2026-03-14", 0, "2026-03-17"),  # 0: that day, or the next business day
    ],
)
def test_broken_promise_counts_business_days(broken_on: str, offset: int, due_on: str) -> None:
    follow_up = campaign((broken_step(offset),), Audience(buckets=("1-30",)))
    broken = (BrokenPromise("PP-20260301-CCCCCC", date.fromisoformat(broken_on)),)
    target = date.fromisoformat(due_on)
    for day in (target - timedelta(days=1), target, target + timedelta(days=1)):
        # bucket ignored for broken promises too: dpd 45 is outside 1-30
        due = due_steps(follow_up, facts(45, broken=broken), day)
        assert [d.reference for d in due] == (["PP-20260301-CCCCCC"] if day == target else [])


def test_several_broken_promises_each_get_their_step() -> None:
    follow_up = campaign((broken_step(),), Audience())
    broken = (
        BrokenPromise("PP-A", date(2026, 3, 9)),
        BrokenPromise("PP-B", date(2026, 3, 9)),
        BrokenPromise("PP-C", date(2026, 3, 2)),
    )
    due = due_steps(follow_up, facts(20, broken=broken), date(2026, 3, 10))
    assert [d.reference for d in due] == ["PP-A", "PP-B"]


# --- when the campaigns write about one commitment ---------------------------------------------


def at(name: str, anchor: str, offset: int, hour: int) -> Step:
    return Step(
        name=name,
        anchor=anchor,
        template="recordatorio",
        send_at=time(hour, 0),
        valid_for=timedelta(hours=8),
        offset_days=offset,
    )


# As shipped (campaigns/recordatorio_promesa.yml, recordatorio_parcialidad.yml), in file order.
PROMISES = campaign(
    (at("dia_anterior", "promise", -1, 10), at("dia_de_pago", "promise", 0, 9)),
    name="recordatorio_promesa",
    priority=100,
)
INSTALLMENTS = campaign(
    (at("tres_dias_antes", "installment", -3, 10), at("dia_de_pago", "installment", 0, 9)),
    name="recordatorio_parcialidad",
    priority=95,
)
CDMX = ZoneInfo("America/Mexico_City")
DUE = date(2026, 3, 12)  # a Thursday


def test_moments_of_a_promise_and_of_an_instalment() -> None:
    both = (INSTALLMENTS, PROMISES, EARLY)  # the delinquency campaign writes about no commitment
    assert commitment_moments(both, facts(3), "promise", DUE, "America/Mexico_City") == [
        datetime(2026, 3, 11, 10, 0, tzinfo=CDMX),
        datetime(2026, 3, 12, 9, 0, tzinfo=CDMX),
    ]
    assert commitment_moments(both, facts(3), "installment", DUE, "America/Mexico_City") == [
        datetime(2026, 3, 9, 10, 0, tzinfo=CDMX),
        datetime(2026, 3, 12, 9, 0, tzinfo=CDMX),
    ]


def test_moments_of_several_campaigns_are_sorted_and_each_said_once() -> None:
    later = campaign(
        (at("dos_dias_antes", "promise", -2, 18), at("mismo_dia", "promise", 0, 9)), name="otra"
    )
    assert commitment_moments(
        (PROMISES, later), facts(3), "promise", DUE, "America/Mexico_City"
    ) == [
        datetime(2026, 3, 10, 18, 0, tzinfo=CDMX),
        datetime(2026, 3, 11, 10, 0, tzinfo=CDMX),
        datetime(2026, 3, 12, 9, 0, tzinfo=CDMX),
    ]


def test_no_moment_when_the_campaign_is_disabled() -> None:
    off = campaign(INSTALLMENTS.steps, enabled=False, name="recordatorio_parcialidad")
    assert (
        commitment_moments((PROMISES, off), facts(3), "installment", DUE, "America/Mexico_City")
        == []
    )
    assert (
        len(commitment_moments((PROMISES, off), facts(3), "promise", DUE, "America/Mexico_City"))
        == 2
    )


@pytest.mark.parametrize(
    "audience",
    [
        Audience(personas=("negociador",)),
        Audience(score_bands=("A",)),  # not scored yet
        Audience(min_balance=Decimal("10000")),
        Audience(max_balance=Decimal("1000")),
    ],
)
def test_no_moment_when_the_audience_leaves_the_debtor_out(audience: Audience) -> None:
    narrow = campaign(PROMISES.steps, audience, name="recordatorio_promesa")
    assert commitment_moments((narrow,), facts(3), "promise", DUE, "America/Mexico_City") == []


def test_bucket_and_days_past_due_do_not_apply_to_commitment_moments() -> None:
    far = campaign(PROMISES.steps, Audience(buckets=("90+",), min_days_past_due=91))
    assert len(commitment_moments((far,), facts(3), "promise", DUE, "America/Mexico_City")) == 2


def test_moments_are_in_the_debtors_zone() -> None:
    tijuana = commitment_moments((PROMISES,), facts(3), "promise", DUE, "America/Tijuana")
    assert tijuana == [
        datetime(2026, 3, 11, 10, 0, tzinfo=ZoneInfo("America/Tijuana")),
        datetime(2026, 3, 12, 9, 0, tzinfo=ZoneInfo("America/Tijuana")),
    ]
    utc = [m.astimezone(ZoneInfo("UTC")).hour for m in tijuana]
    mexico_city = commitment_moments((PROMISES,), facts(3), "promise", DUE, "America/Mexico_City")
    # Tijuana keeps summer time from 8 March (UTC-7); Mexico City no longer does (UTC-6).
    assert utc == [17, 16]
    assert [m.astimezone(ZoneInfo("UTC")).hour for m in mexico_city] == [16, 15]


def test_moments_refuse_an_unknown_kind() -> None:
    with pytest.raises(ValueError, match="promise or installment"):
        commitment_moments((PROMISES,), facts(3), "promesa", DUE, "America/Mexico_City")
