"""Where a debtor lives → IANA time zone.

The zone comes from the state and municipality of the debtor's address; when the address says
nothing usable, from the phone's area code (lada); last, the configured default. Since the 2022
reform Mexico keeps no daylight saving time except the US-border municipalities, which tzdata
models as America/Tijuana, America/Ciudad_Juarez, America/Ojinaga and America/Matamoros.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

MEXICAN_TIME_ZONES = (
    "America/Mexico_City",
    "America/Cancun",
    "America/Merida",
    "America/Monterrey",
    "America/Matamoros",
    "America/Chihuahua",
    "America/Ciudad_Juarez",
    "America/Ojinaga",
    "America/Hermosillo",
    "America/Mazatlan",
    "America/Bahia_Banderas",
    "America/Tijuana",
)

MC = "America/Mexico_City"

# State → (canonical name, zone for most of the state). Keys are folded (see _fold).
_STATES: dict[str, tuple[str, str]] = {
    "aguascalientes": ("Aguascalientes", MC),
    "baja california": ("Baja California", "America/Tijuana"),
    "baja california sur": ("Baja California Sur", "America/Mazatlan"),
    "campeche": ("Campeche", "America/Merida"),
    "chiapas": ("Chiapas", MC),
    "chihuahua": ("Chihuahua", "America/Chihuahua"),
    "ciudad de mexico": ("Ciudad de México", MC),
    "coahuila": ("Coahuila", "America/Monterrey"),
    "colima": ("Colima", MC),
    "durango": ("Durango", "America/Monterrey"),
    "guanajuato": ("Guanajuato", MC),
    "guerrero": ("Guerrero", MC),
    "hidalgo": ("Hidalgo", MC),
    "jalisco": ("Jalisco", MC),
    "estado de mexico": ("Estado de México", MC),
    "michoacan": ("Michoacán", MC),
    "morelos": ("Morelos", MC),
    "nayarit": ("Nayarit", "America/Mazatlan"),
    "nuevo leon": ("Nuevo León", "America/Monterrey"),
    "oaxaca": ("Oaxaca", MC),
    "puebla": ("Puebla", MC),
    "queretaro": ("Querétaro", MC),
    "quintana roo": ("Quintana Roo", "America/Cancun"),
    "san luis potosi": ("San Luis Potosí", MC),
    "sinaloa": ("Sinaloa", "America/Mazatlan"),
    "sonora": ("Sonora", "America/Hermosillo"),
    "tabasco": ("Tabasco", MC),
    "tamaulipas": ("Tamaulipas", "America/Monterrey"),
    "tlaxcala": ("Tlaxcala", MC),
    "veracruz": ("Veracruz", MC),
    "yucatan": ("Yucatán", "America/Merida"),
    "zacatecas": ("Zacatecas", MC),
}

# Common abbreviations and other names people and CRMs use for states.
_STATE_ALIASES = {
    "cdmx": "ciudad de mexico",
    "df": "ciudad de mexico",
    "d.f.": "ciudad de mexico",
    "distrito federal": "ciudad de mexico",
    "ags": "aguascalientes",
    "ags.": "aguascalientes",
    "b.c.": "baja california",
    "bc": "baja california",
    "b.c.s.": "baja california sur",
    "bcs": "baja california sur",
    "camp.": "campeche",
    "chis.": "chiapas",
    "chih.": "chihuahua",
    "coah.": "coahuila",
    "coahuila de zaragoza": "coahuila",
    "col.": "colima",
    "dgo.": "durango",
    "gto.": "guanajuato",
    "gro.": "guerrero",
    "hgo.": "hidalgo",
    "jal.": "jalisco",
    "edomex": "estado de mexico",
    "mexico": "estado de mexico",
    "mex.": "estado de mexico",
    "edo. mex.": "estado de mexico",
    "mich.": "michoacan",
    "michoacan de ocampo": "michoacan",
    "mor.": "morelos",
    "nay.": "nayarit",
    "n.l.": "nuevo leon",
    "nl": "nuevo leon",
    "oax.": "oaxaca",
    "pue.": "puebla",
    "qro.": "queretaro",
    "q. roo": "quintana roo",
    "q.roo": "quintana roo",
    "qroo": "quintana roo",
    "q. roo.": "quintana roo",
    "s.l.p.": "san luis potosi",
    "slp": "san luis potosi",
    "sin.": "sinaloa",
    "son.": "sonora",
    "tab.": "tabasco",
    "tamps.": "tamaulipas",
    "tlax.": "tlaxcala",
    "ver.": "veracruz",
    "veracruz de ignacio de la llave": "veracruz",
    "yuc.": "yucatan",
    "zac.": "zacatecas",
}

# Municipalities whose zone differs from their state's (the border strip and Bahía de Banderas).
_MUNICIPAL_EXCEPTIONS: dict[tuple[str, str], str] = {
    **{
        ("chihuahua", m): "America/Ciudad_Juarez"
        for m in (
            "juarez",
            "ciudad juarez",
            "ascension",
            "janos",
            "guadalupe",
            "praxedis g. guerrero",
        )
    },
    **{
        ("chihuahua", m): "America/Ojinaga"
        for m in (
            "ojinaga",
            "manuel benavides",
            "coyame del sotol",
        )
    },
    **{
        ("coahuila", m): "America/Matamoros"
        for m in (
            "acuna",
            "piedras negras",
            "guerrero",
            "hidalgo",
            "jimenez",
            "nava",
            "ocampo",
            "zaragoza",
        )
    },
    ("nuevo leon", "anahuac"): "America/Matamoros",
    **{
        ("tamaulipas", m): "America/Matamoros"
        for m in (
            "matamoros",
            "reynosa",
            "nuevo laredo",
            "rio bravo",
            "valle hermoso",
            "miguel aleman",
            "camargo",
            "guerrero",
            "gustavo diaz ordaz",
            "mier",
        )
    },
    ("nayarit", "bahia de banderas"): "America/Bahia_Banderas",
}

# Area code (lada) → zone, for the fallback. Unlisted ladas fall to the default zone.
_LADA_ZONES: dict[str, str] = {
    **dict.fromkeys(("664", "665", "686", "646", "616", "661"), "America/Tijuana"),
    **dict.fromkeys(("656",), "America/Ciudad_Juarez"),
    **dict.fromkeys(("626",), "America/Ojinaga"),
    **dict.fromkeys(
        ("614", "625", "627", "628", "629", "635", "636", "639", "648", "649"), "America/Chihuahua"
    ),
    **dict.fromkeys(
        (
            "662",
            "631",
            "632",
            "633",
            "634",
            "637",
            "638",
            "641",
            "642",
            "643",
            "644",
            "645",
            "647",
            "653",
        ),
        "America/Hermosillo",
    ),
    **dict.fromkeys(
        (
            "669",
            "667",
            "668",
            "672",
            "673",
            "687",
            "694",
            "696",
            "697",
            "698",
            "612",
            "613",
            "615",
            "624",
            "311",
            "319",
            "323",
            "324",
            "325",
            "327",
            "389",
        ),
        "America/Mazatlan",
    ),
    **dict.fromkeys(("329",), "America/Bahia_Banderas"),
    **dict.fromkeys(("998", "983", "984", "987"), "America/Cancun"),
    **dict.fromkeys(
        ("999", "985", "986", "988", "969", "991", "997", "981", "982", "996", "938"),
        "America/Merida",
    ),
    **dict.fromkeys(("868", "899", "867", "897", "878", "877", "894"), "America/Matamoros"),
    **dict.fromkeys(
        ("81", "821", "826", "834", "833", "831", "844", "871", "866", "618", "842"),
        "America/Monterrey",
    ),
}


@dataclass(frozen=True)
class ZoneResolution:
    """A zone and how it was found: ``address``, ``area_code`` or ``default``."""

    zone: str
    source: str


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text or "")
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().replace(",", " ").split())


def canonical_state(state: str) -> str | None:
    """``"N.L."`` → ``"Nuevo León"``; None when the state is not recognised."""
    key = _fold(state)
    key = _STATE_ALIASES.get(key, key)
    entry = _STATES.get(key)
    return entry[0] if entry else None


def zone_for_address(state: str, municipality: str = "") -> str | None:
    key = _STATE_ALIASES.get(_fold(state), _fold(state))
    if key not in _STATES:
        return None
    muni = _fold(municipality)
    # "Benito Juárez (Cancún)" → "benito juarez"
    muni = muni.split("(")[0].strip()
    return _MUNICIPAL_EXCEPTIONS.get((key, muni), _STATES[key][1])


def zone_for_area_code(lada: str) -> str | None:
    return _LADA_ZONES.get(lada)


def resolve_zone(
    state: str, municipality: str, phone_area_code: str, default: str = MC
) -> ZoneResolution:
    zone = zone_for_address(state, municipality)
    if zone:
        return ZoneResolution(zone, "address")
    zone = zone_for_area_code(phone_area_code)
    if zone:
        return ZoneResolution(zone, "area_code")
    return ZoneResolution(default, "default")
