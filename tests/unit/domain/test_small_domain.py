import random
import re
from datetime import date

import pytest

from cobranza import db
from cobranza.clock import FixedClock, local_today
from cobranza.config import ConfigError, Secret, load_settings
from cobranza.domain.delinquency import bucket_for
from cobranza.domain.folios import ALPHABET, PROMISE_PREFIX, new_folio


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        (0, "al_corriente"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
        (400, "90+"),
    ],
)
def test_buckets(days: int, bucket: str) -> None:
    assert bucket_for(days) == bucket


def test_negative_days_past_due_is_an_error() -> None:
    with pytest.raises(ValueError):
        bucket_for(-1)


def test_folio_format_and_seeded_determinism() -> None:
    folio = new_folio(PROMISE_PREFIX, date(2026, 11, 22))
    assert re.fullmatch(rf"PP-20261122-[{ALPHABET}]{{6}}", folio)
    assert new_folio("CV", date(2026, 1, 2), random.Random(1)) == new_folio(
        "CV", date(2026, 1, 2), random.Random(1)
    )
    assert not set("01ILOU") & set(ALPHABET)


def test_local_today_uses_the_debtor_zone() -> None:
    from datetime import datetime, timezone

    late_utc = FixedClock(datetime(2026, 11, 23, 5, 30, tzinfo=timezone.utc))
    assert local_today(late_utc, "America/Tijuana") == date(2026, 11, 22)
    assert local_today(late_utc, "America/Cancun") == date(2026, 11, 23)


def test_settings_defaults_and_validation() -> None:
    settings = load_settings({})
    assert settings.database_url.startswith("sqlite:///") and settings.database_url.endswith(
        "var/cobranza.db"
    )
    assert settings.default_time_zone == "America/Mexico_City"
    with pytest.raises(ConfigError, match="DATABASE_URL"):
        load_settings({"DATABASE_URL": "cobranza.db"})
    with pytest.raises(ConfigError, match="COBRANZA_DEFAULT_TIME_ZONE"):
        load_settings({"COBRANZA_DEFAULT_TIME_ZONE": "Mars/Olympus"})
    with pytest.raises(ConfigError, match="COBRANZA_LOG_LEVEL"):
        load_settings({"COBRANZA_LOG_LEVEL": "LOUD"})


def test_database_password_is_masked() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://app:s3cr3t@db.internal/cobranza"})
    assert "s3cr3t" not in db.masked_url(settings.database_url)
    assert "s3cr3t" not in repr(Secret("s3cr3t")) and str(Secret("s3cr3t")) == "**********"
    assert Secret("s3cr3t").reveal() == "s3cr3t"
