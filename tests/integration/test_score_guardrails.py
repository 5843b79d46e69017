"""Guardrails of the propensity-to-pay score (docs/scoring.md): it orders and selects work, and
nothing else.

* The compliance engine never reads it: nothing under cobranza/compliance/ imports anything
  score-related, directly or through another module, or names the table or the column; and its
  decisions for the same debtors are the same with and without (high) scores.
* A debtor never sees it: no action, response, template or conversation data names it, and what
  a new conversation learns about its sender (``session_context``) carries none of it.
"""

from __future__ import annotations

import ast
import dataclasses
import re
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import grimp
import pytest
from sqlalchemy.orm import sessionmaker

from cobranza import db
from cobranza.clock import FixedClock
from cobranza.compliance import decisions
from cobranza.config import PROJECT_ROOT, load_settings
from cobranza.services.consent import revoke_consent
from cobranza.services.views import session_context
from tests.support import outreach as data
from tests.support.scores import score

SCORE_MODULES = (
    "cobranza.scoring",
    "cobranza.services.scores",
    "cobranza.services.segments",
    "cobranza.domain.scores",
)
# What would mean reading a score: the model, its table, the outreach row's copy, the reader.
SCORE_NAMES = re.compile(
    r"DebtorScore|debtor_scores|FeatureSnapshot|feature_snapshots|latest_scores|score_band|"
    r"expected_recovery|propensi|probabili|\bscores?\b|\bbanda?s?\b",
    re.IGNORECASE,
)


def test_the_compliance_engine_imports_nothing_score_related() -> None:
    graph = grimp.build_graph("cobranza")
    imported = graph.find_upstream_modules("cobranza.compliance", as_package=True)
    assert not {m for m in imported if m.startswith(SCORE_MODULES)}, imported
    for module in SCORE_MODULES:
        if module in graph.modules:
            assert not graph.chain_exists("cobranza.compliance", module, as_packages=True)


def test_the_compliance_engine_never_names_a_score() -> None:
    for path in sorted((PROJECT_ROOT / "cobranza" / "compliance").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Name):
                names.append(node.id)
            elif isinstance(node, ast.Attribute):
                names.append(node.attr)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                names += [alias.name for alias in node.names]
                names.append(getattr(node, "module", None) or "")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names += re.findall(r"debtor_scores|feature_snapshots", node.value)
            for name in names:
                assert not re.search(
                    r"score|FeatureSnapshot|feature_snapshot", name, re.IGNORECASE
                ), f"{path.relative_to(PROJECT_ROOT)}: {name}"


def _debtor_facing_files() -> list[Path]:
    root = PROJECT_ROOT
    files = [root / "domain.yml", root / "cobranza" / "responses.py"]
    files += sorted((root / "actions").rglob("*.py"))
    files += sorted((root / "templates").glob("*.yml"))
    files += sorted((root / "data").rglob("*.yml"))
    return files


def test_no_action_response_template_or_conversation_names_the_score() -> None:
    found = []
    for path in _debtor_facing_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if SCORE_NAMES.search(line):
                found.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert found == []


def test_the_pattern_would_catch_a_leak() -> None:
    for leak in (
        "from cobranza.services.scores import latest_scores",
        "    text: Tu banda es {banda}",
        "select(DebtorScore.probability)",
        "utter_score: tu score es alto",
        "probabilidad de pago: 62 %",
    ):
        assert SCORE_NAMES.search(leak), leak


@pytest.fixture
def sessions(migrated_sessions: sessionmaker) -> sessionmaker:
    return migrated_sessions


def _decisions(sessions: sessionmaker, at: datetime) -> list[dict[str, Any]]:
    settings = load_settings({})
    clock = FixedClock(at)
    answers = []
    with db.session_scope(sessions) as session:
        for phone in ("+525511260001", "+525511260002", "+526641260003"):
            decision = decisions.decide_contact(
                session, phone, settings, clock, initiated_by="campaign:temprana", actor="system"
            )
            answers.append(dataclasses.asdict(decision))
    return answers


def test_the_engines_decisions_do_not_change_with_scores(sessions: sessionmaker) -> None:
    clock = FixedClock(datetime(2026, 11, 23, 14, 30, tzinfo=timezone.utc))  # 08:30 CDMX
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511260001")  # allowed
        data.debtor(session, "+525511260002")  # opted out
        data.debtor(session, "+526641260003", data.TIJUANA)  # 06:30 in Tijuana: outside hours
        revoke_consent(session, "+525511260002", "BAJA", clock)
    before = _decisions(sessions, clock.now())
    assert [d["checks"] and all(c["passed"] for c in d["checks"]) for d in before] == [
        True,
        False,
        False,
    ]
    with db.session_scope(sessions) as session:
        for phone in ("+525511260001", "+525511260002", "+526641260003"):
            score(session, phone, 0.99, "A", as_of=date(2026, 11, 23), expected="4950.00")
    assert _decisions(sessions, clock.now()) == before


def test_a_new_conversation_learns_nothing_of_the_score(sessions: sessionmaker) -> None:
    with db.session_scope(sessions) as session:
        data.debtor(session, "+525511260011")
        score(session, "+525511260011", 0.873, "A", as_of=date(2026, 11, 23), expected="4365.00")
    with sessions() as session:
        context = session_context(session, "5215511260011", "America/Mexico_City")
    assert set(context) == {"found", "phone", "persona", "time_zone"}
    assert not re.search(r"0\.873|87|4365|\bA\b", repr(context))
