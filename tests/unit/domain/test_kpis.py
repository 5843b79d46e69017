"""The KPI values without a database (cobranza/domain/kpis.py): no rate without a base, the roll
arithmetic, the total of a partition, the order of groups, the flat view the CLI prints."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from cobranza.domain.kpis import (
    INDICATORS,
    Compliance,
    Funnel,
    GroupKpis,
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
)


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
