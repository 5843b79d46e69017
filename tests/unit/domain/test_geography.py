from zoneinfo import ZoneInfo

import pytest

from cobranza.domain.geography import (
    MEXICAN_TIME_ZONES,
    canonical_state,
    resolve_zone,
    zone_for_address,
)


@pytest.mark.parametrize(
    ("state", "municipality", "zone"),
    [
        ("Ciudad de México", "Coyoacán", "America/Mexico_City"),
        ("CDMX", "Coyoacan", "America/Mexico_City"),
        ("B.C.", "Tijuana", "America/Tijuana"),
        ("Baja California", "Mexicali", "America/Tijuana"),
        ("Q. Roo", "Benito Juárez (Cancún)", "America/Cancun"),
        ("Quintana Roo", "Othón P. Blanco", "America/Cancun"),
        ("Yucatán", "Mérida", "America/Merida"),
        ("Campeche", "Campeche", "America/Merida"),
        ("N.L.", "Monterrey", "America/Monterrey"),
        ("Nuevo León", "Anáhuac", "America/Matamoros"),
        ("Tamaulipas", "Tampico", "America/Monterrey"),
        ("Tamaulipas", "Reynosa", "America/Matamoros"),
        ("Coahuila", "Piedras Negras", "America/Matamoros"),
        ("Coahuila", "Saltillo", "America/Monterrey"),
        ("Chih.", "Juárez", "America/Ciudad_Juarez"),
        ("Chihuahua", "Ojinaga", "America/Ojinaga"),
        ("Chihuahua", "Chihuahua", "America/Chihuahua"),
        ("Sonora", "Hermosillo", "America/Hermosillo"),
        ("Sinaloa", "Mazatlán", "America/Mazatlan"),
        ("Baja California Sur", "La Paz", "America/Mazatlan"),
        ("Nayarit", "Tepic", "America/Mazatlan"),
        ("Nayarit", "Bahía de Banderas", "America/Bahia_Banderas"),
        ("Jal.", "Guadalajara", "America/Mexico_City"),
        ("Jalisco", "Puerto Vallarta", "America/Mexico_City"),
    ],
)
def test_zone_from_address(state: str, municipality: str, zone: str) -> None:
    assert zone_for_address(state, municipality) == zone


def test_unknown_state_falls_back_to_area_code_then_default() -> None:
    assert resolve_zone("Atlántida", "", "664").zone == "America/Tijuana"
    assert resolve_zone("Atlántida", "", "664").source == "area_code"
    assert resolve_zone("", "", "999").zone == "America/Merida"
    fallback = resolve_zone("", "", "000", default="America/Mexico_City")
    assert (fallback.zone, fallback.source) == ("America/Mexico_City", "default")
    assert resolve_zone("Sonora", "Cajeme", "55").source == "address"


def test_every_mexican_zone_exists_in_tzdata() -> None:
    assert len(MEXICAN_TIME_ZONES) == 12
    for zone in MEXICAN_TIME_ZONES:
        ZoneInfo(zone)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("cdmx", "Ciudad de México"),
        ("N.L.", "Nuevo León"),
        ("edomex", "Estado de México"),
        ("Michoacán de Ocampo", "Michoacán"),
        ("Narnia", None),
    ],
)
def test_canonical_state(raw: str, canonical: str | None) -> None:
    assert canonical_state(raw) == canonical
