"""The KPI values without a database (cobranza/domain/kpis.py): no rate without a base, the roll
arithmetic, the total of a partition, the order of groups, the flat view the CLI prints."""

from __future__ import annotations

import csv
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cobranza.config import PROJECT_ROOT
from cobranza.domain.kpis import (
    FUNNEL,
    INDICATOR,
    INDICATORS,
    RULE_LABELS,
    Compliance,
    Filters,
    Funnel,
    GroupKpis,
    KpiReport,
    Messages,
    Money,
    MoneyRate,
    Promises,
    Rate,
    Resolution,
    Roll,
    combine,
    flat,
    group_order,
    kpis_csv,
    safe_cell,
)
from cobranza.domain.vocabulary import Rule


def test_a_rate_without_a_base_has_no_value() -> None:
    assert Rate(0, 0).value is None
    assert Rate(3, 0).value is None  # never a division by zero
    assert Rate(0, 4).value == 0.0
    assert Rate(1, 4).value == 0.25
    assert MoneyRate(Decimal("0.00"), Decimal("0.00")).value is None
    assert MoneyRate(Decimal("150.00"), Decimal("600.00")).value == 0.25
    assert Promises(kept=0, broken=0, pending=3).kept_rate.value is None  # pending: no base
    assert Money(balance_assigned=None).recovery_rate is None


def test_cure_and_roll_forward() -> None:
    roll = Roll(
        {
            "al_corriente": {"al_corriente": 3, "1-30": 1},
            "1-30": {"al_corriente": 1, "31-60": 2, "sin saldo": 1},
            "61-90": {"90+": 1},
            "90+": {"90+": 4, "sin saldo": 1},
        }
    )
    assert roll.debtors == 14
    # delinquent at the start: 4 in 1-30, 1 in 61-90, 5 in 90+; cured: al_corriente or paid off
    assert roll.cure_rate == Rate(3, 10)
    assert roll.roll_forward("al_corriente") == Rate(1, 4)
    assert roll.roll_forward("1-30") == Rate(2, 4)  # paying off is not rolling forward
    assert roll.roll_forward("31-60") == Rate(0, 0)
    assert roll.roll_forward("90+") == Rate(0, 0)  # nowhere worse to go
    assert roll.roll_forward_rate == Rate(4, 9)  # al_corriente, 1-30, 61-90
    assert Roll().cure_rate.value is None and Roll().roll_forward_rate.value is None


def test_resolution_hours() -> None:
    assert Resolution((2.0, 6.0, 120.0)).mean_hours == 128 / 3
    assert Resolution((2.0, 6.0, 120.0)).median_hours == 6.0
    assert Resolution().median_hours is None and Resolution().tickets_closed == 0


def _group(n: int) -> GroupKpis:
    return GroupKpis(
        funnel=Funnel(contacted=n, replied=n - 1, reply_rate=Rate(n - 1, n)),
        messages=Messages(sent=2 * n, delivered=n),
        promises=Promises(made=1, pesos_promised=Decimal("10.50"), kept=1, broken=n),
        money=Money(pesos_collected=Decimal("1.25"), payments=1, balance_assigned=Decimal("100")),
        roll=Roll({"1-30": {"al_corriente": n}}),
        resolution=Resolution((float(n),)),
        compliance=Compliance({"daily_cap": n, "consent": 1}),
    )


@given(st.lists(st.integers(min_value=1, max_value=50), max_size=6))
def test_the_total_of_a_partition_adds_every_part(sizes: list[int]) -> None:
    groups = [_group(n) for n in sizes]
    total = combine(groups)
    assert total.funnel.contacted == sum(sizes)
    assert total.funnel.reply_rate == Rate(sum(sizes) - len(sizes), sum(sizes))
    assert total.messages == Messages(2 * sum(sizes), sum(sizes))
    assert total.promises.pesos_promised == Decimal("10.50") * len(sizes)
    assert total.money.balance_assigned == Decimal(100) * len(sizes)
    assert total.roll == Roll({"1-30": {"al_corriente": sum(sizes)}} if sizes else {})
    assert sorted(total.resolution.hours) == sorted(float(n) for n in sizes)
    assert total.compliance.blocked == sum(sizes) + len(sizes)
    if not sizes:
        assert total == GroupKpis()


def test_groups_in_reading_order() -> None:
    assert group_order("bucket", ["sin saldo", "90+", "1-30", "al_corriente", "31-60"]) == [
        "al_corriente",
        "1-30",
        "31-60",
        "90+",
        "sin saldo",
    ]
    assert group_order("campaign", ["sin campaña", "tardia", "promesa"]) == [
        "promesa",
        "tardia",
        "sin campaña",
    ]
    assert group_order("day", ["2026-11-02", "2026-11-01"]) == ["2026-11-01", "2026-11-02"]


def test_the_flat_view_has_every_indicator() -> None:
    values = flat(_group(4))
    assert list(values) == [i.key for i in INDICATORS]
    assert values["reply_rate"] == 0.75 and values["pesos_collected"] == "1.25"
    assert values["debtors"] == 4 and values["blocked"] == 5
    day = flat(GroupKpis(money=Money(balance_assigned=None), roll=None))
    assert day["balance_assigned"] is None and day["cure_rate"] is None and day["debtors"] is None
    assert day["reply_rate"] is None


def test_every_indicator_says_what_it_counts_in_one_line_of_spanish() -> None:
    keys = [i.key for i in INDICATORS]
    assert len(set(keys)) == len(keys) and set(INDICATOR) == set(keys)
    for i in INDICATORS:
        assert i.kind in ("count", "rate", "pesos", "hours"), i.key
        assert i.unit == {"rate": "%", "pesos": "pesos (MXN)", "hours": "horas"}.get(
            i.kind, i.unit
        ), i.key
        assert i.unit and i.label == i.label.strip().lower(), i.key
        assert i.definition.endswith(".") and "\n" not in i.definition, i.key
        assert 20 < len(i.definition) <= 160, i.key
        if i.kind == "rate":
            assert "÷" in i.definition, i.key  # a rate names its numerator and denominator
        assert i.as_dict() == {
            "key": i.key,
            "label": i.label,
            "kind": i.kind,
            "unit": i.unit,
            "definition": i.definition,
        }


def test_the_funnel_is_debtors_at_each_step() -> None:
    assert [INDICATOR[key].unit for key in FUNNEL] == ["deudores"] * len(FUNNEL)
    assert FUNNEL[0] == "contacted" and FUNNEL[-1] == "debtors_kept"


def test_every_rule_a_block_can_name_has_a_label() -> None:
    assert set(RULE_LABELS) == set(Rule.values())


def test_docs_kpis_defines_each_indicator_with_its_label() -> None:
    """docs/kpis.md has a row ``| `key` | label | …`` for every indicator: the page, the CLI
    and the docs name them alike."""
    text = (PROJECT_ROOT / "docs" / "kpis.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)` \| ([^|]+?) \|", text, re.M)}
    assert {i.key: rows.get(i.key) for i in INDICATORS} == {i.key: i.label for i in INDICATORS}


@pytest.mark.parametrize(
    ("text", "safe"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+52 55", "'+52 55"),
        ("-1+1", "'-1+1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("temprana", "temprana"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_no_csv_cell_reads_as_a_formula(text: str, safe: str) -> None:
    assert safe_cell(text) == safe


def _report(groups: dict[str, GroupKpis], labels: dict[str, str]) -> KpiReport:
    return KpiReport(
        start=date(2026, 11, 1),
        end=date(2026, 11, 30),
        zone="America/Mexico_City",
        split="campaign",
        filters=Filters(),
        start_snapshot=None,
        end_snapshot=None,
        total=combine(groups.values()),
        groups=groups,
        labels=labels,
    )


def test_the_csv_is_one_row_per_group_and_quotes_what_must_be_quoted() -> None:
    hostile = '=cmd|" /C calc"!A0'
    report = _report({hostile: _group(2), 'coma, "comillas"\nsalto': _group(3)}, {})
    rows = list(csv.reader(io.StringIO(kpis_csv(report, ("datos", "simulados")))))
    header = rows[0]
    assert header[0] == "campaña" and header[-1] == "datos"
    assert header[1 : 1 + len(INDICATORS)] == [i.label for i in INDICATORS]
    assert header[1 + len(INDICATORS) :] == ["bloqueos: consent", "bloqueos: daily_cap", "datos"]
    assert [r[0] for r in rows[1:]] == ["total", "'" + hostile, 'coma, "comillas"\nsalto']
    assert all(r[-1] == "simulados" and len(r) == len(header) for r in rows[1:])
    reply = header.index("tasa de respuesta")
    assert [r[reply] for r in rows[1:]] == ["0.600000", "0.500000", "0.666667"]  # 3/5, 1/2, 2/3
    empty = list(csv.reader(io.StringIO(kpis_csv(_report({}, {})))))
    assert empty[1][reply] == "" and empty[1][header.index("deudores contactados")] == "0"
