import pytest

from cobranza.domain.phones import (
    InvalidPhone,
    area_code,
    mask_phone,
    normalize_phone,
    whatsapp_id,
)


@pytest.mark.parametrize(
    "raw",
    [
        "5215512345678",
        "+525512345678",
        "55 1234 5678",
        "525512345678",
        "+52 1 55 1234 5678",
        "(55) 1234-5678",
        "55-1234-5678",
        " 5512345678 ",
    ],
)
def test_every_common_writing_normalises_to_e164(raw: str) -> None:
    assert normalize_phone(raw) == "+525512345678"


@pytest.mark.parametrize(
    "raw", ["", "123", "abc", "0512345678", "1512345678", "+15551234567", "52155123456789", "🙂"]
)
def test_rejects_what_is_not_a_mexican_number(raw: str) -> None:
    with pytest.raises(InvalidPhone):
        normalize_phone(raw)


def test_whatsapp_id_and_area_codes() -> None:
    assert whatsapp_id("+525512345678") == "5215512345678"
    assert area_code("+525512345678") == "55"
    assert area_code("+528112345678") == "81"
    assert area_code("+523312345678") == "33"
    assert area_code("+526641234567") == "664"


def test_mask_keeps_last_four_digits_only() -> None:
    assert mask_phone("5215512345678") == "*********5678"
    assert "1234" not in mask_phone("+525512345678")[:-4]
    assert mask_phone("12") == "**"


def test_error_message_does_not_echo_the_number() -> None:
    with pytest.raises(InvalidPhone) as info:
        normalize_phone("0512345678")
    assert "0512345678" not in str(info.value)
