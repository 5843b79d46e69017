"""Print NLU quality numbers: cross-validation on data/nlu and scores on the held-out set.

Usage (from the repository root)::

    .venv/bin/python scripts/nlu_report.py [--model PATH] [--folds N] [--holdout FILE]
        [--config FILE] [--nlu DIR] [--skip-cv] [--skip-holdout] [--top N]
        [--fail-under-intent X] [--fail-under-entity X] [--write-rasa-nlu FILE]

(a) Cross-validation runs Rasa's own ``rasa test nlu --cross-validation --folds N`` in a
    subprocess into a temporary directory and reads its JSON reports (intent_report.json,
    <extractor>_report.json, intent_errors.json).
(b) The held-out set (tests/nlu/holdout.yml, format documented at its top) is parsed with the
    trained model through ``Agent.load(...).parse_message``. COBRANZA_NLU_TODAY is set to the
    file's reference date before the model is loaded, so relative dates ("el viernes") resolve
    against that date. Reported: intent accuracy (``nlu_fallback`` counts as wrong), macro F1,
    the top confusion pairs, and the normalised entity accuracy per entity = the fraction of
    expected entities for which some predicted entity of that type has the expected ``value``
    (monto compared as Decimal(str(value)), fecha as a string). The span accuracy (predicted
    text equals the expected span) is printed too, to tell extraction from normalisation.

Exit status: 0, or 1 when a --fail-under-* threshold is not met (the entity threshold applies
to monto and fecha separately), 2 on a usage or data error or when Rasa fails.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ENTITY_TYPES = ("monto", "fecha")
FALLBACK_INTENT = "nlu_fallback"
TODAY_VARIABLE = "COBRANZA_NLU_TODAY"


class HoldoutError(ValueError):
    """The held-out file does not follow the documented format."""


class CrossValidationError(RuntimeError):
    """``rasa test nlu --cross-validation`` failed."""


@dataclass(frozen=True)
class ExpectedEntity:
    entity: str
    text: str
    value: str | int | float


@dataclass(frozen=True)
class HoldoutExample:
    text: str
    intent: str
    entities: tuple[ExpectedEntity, ...] = ()


@dataclass(frozen=True)
class Holdout:
    today: dt.date
    examples: tuple[HoldoutExample, ...]


@dataclass
class EntityScore:
    expected: int = 0
    value_hits: int = 0
    span_hits: int = 0
    misses: list[str] = field(default_factory=list)

    @property
    def value_accuracy(self) -> float:
        return self.value_hits / self.expected if self.expected else 0.0

    @property
    def span_accuracy(self) -> float:
        return self.span_hits / self.expected if self.expected else 0.0


@dataclass
class HoldoutResult:
    n: int
    accuracy: float
    accuracy_without_fallback: float
    fallback_rate: float
    macro_f1: float
    per_intent: dict[str, tuple[float, float, float, int]]
    confusions: list[tuple[str, str, int]]
    errors: list[tuple[str, str, str, float]]
    entities: dict[str, EntityScore]


# ----------------------------------------------------------------------------- held-out file


def load_holdout(path: Path) -> Holdout:
    """Read and check the held-out file (format documented at the top of the file)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise HoldoutError(f"{path}: {error}") from error
    if not isinstance(raw, dict) or "today" not in raw or "examples" not in raw:
        raise HoldoutError(f"{path}: expected the keys 'today' and 'examples'")
    today_raw = raw["today"]
    try:
        today = (
            today_raw if isinstance(today_raw, dt.date) else dt.date.fromisoformat(str(today_raw))
        )
    except ValueError as error:
        raise HoldoutError(f"{path}: 'today' is not an ISO date: {today_raw!r}") from error
    examples: list[HoldoutExample] = []
    for index, item in enumerate(raw["examples"] or []):
        where = f"{path}: example {index + 1}"
        if not isinstance(item, dict) or not {"text", "intent"} <= set(item):
            raise HoldoutError(f"{where}: needs 'text' and 'intent'")
        text = str(item["text"])
        entities: list[ExpectedEntity] = []
        for entity in item.get("entities") or []:
            if not isinstance(entity, dict) or not {"entity", "text", "value"} <= set(entity):
                raise HoldoutError(f"{where}: an entity needs 'entity', 'text' and 'value'")
            span = str(entity["text"])
            if span not in text:
                raise HoldoutError(f"{where}: entity text {span!r} not in {text!r}")
            value = entity["value"]
            if isinstance(value, dt.date):
                value = value.isoformat()
            entities.append(ExpectedEntity(str(entity["entity"]), span, value))
        examples.append(HoldoutExample(text, str(item["intent"]), tuple(entities)))
    if not examples:
        raise HoldoutError(f"{path}: no examples")
    return Holdout(today, tuple(examples))


def write_rasa_nlu(holdout: Holdout, path: Path) -> None:
    """Write the held-out set in Rasa's NLU YAML format (for ``rasa test nlu --nlu``)."""
    by_intent: dict[str, list[str]] = {}
    for example in holdout.examples:
        by_intent.setdefault(example.intent, []).append(_annotate(example))
    lines = ['version: "3.1"', "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"  - intent: {intent}", "    examples: |"]
        lines += [f"      - {text}" for text in texts]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _annotate(example: HoldoutExample) -> str:
    located: list[tuple[int, int, str]] = []
    for entity in example.entities:
        start = example.text.find(entity.text)
        while start >= 0 and any(s < start + len(entity.text) and start < e for s, e, _ in located):
            start = example.text.find(entity.text, start + 1)
        if start >= 0:
            located.append((start, start + len(entity.text), entity.entity))
    text = example.text
    for start, end, name in sorted(located, reverse=True):
        text = f"{text[:start]}[{text[start:end]}]({name}){text[end:]}"
    return text


# ----------------------------------------------------------------------------- scoring


def same_value(entity: str, predicted: Any, expected: str | int | float) -> bool:
    """Whether a predicted entity value equals the expected normalised value."""
    if entity == "monto":
        try:
            return Decimal(str(predicted)) == Decimal(str(expected))
        except InvalidOperation:
            return False
    return str(predicted) == str(expected)


def macro_f1(pairs: Sequence[tuple[str, str]]) -> tuple[float, dict[str, tuple[float, ...]]]:
    """Macro F1 over the expected labels; per label (precision, recall, f1, support)."""
    labels = sorted({expected for expected, _ in pairs})
    per_label: dict[str, tuple[float, ...]] = {}
    for label in labels:
        tp = sum(1 for e, p in pairs if e == label and p == label)
        fp = sum(1 for e, p in pairs if e != label and p == label)
        fn = sum(1 for e, p in pairs if e == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = (precision, recall, f1, float(tp + fn))
    mean = sum(v[2] for v in per_label.values()) / len(per_label) if per_label else 0.0
    return mean, per_label


def confusion_pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str, int]]:
    counts = Counter((e, p) for e, p in pairs if e != p)
    return [(e, p, n) for (e, p), n in counts.most_common()]


def score_holdout(holdout: Holdout, parses: Sequence[dict[str, Any]]) -> HoldoutResult:
    pairs: list[tuple[str, str]] = []
    raw_pairs: list[tuple[str, str]] = []
    errors: list[tuple[str, str, str, float]] = []
    entities = {name: EntityScore() for name in ENTITY_TYPES}
    for example, parse in zip(holdout.examples, parses, strict=True):
        intent = parse.get("intent") or {}
        predicted = str(intent.get("name"))
        pairs.append((example.intent, predicted))
        ranking = [r for r in parse.get("intent_ranking") or [] if r["name"] != FALLBACK_INTENT]
        raw_pairs.append((example.intent, str(ranking[0]["name"]) if ranking else predicted))
        if predicted != example.intent:
            confidence = float(intent.get("confidence") or 0.0)
            errors.append((example.text, example.intent, predicted, confidence))
        _score_entities(example, parse.get("entities") or [], entities)
    n = len(pairs)
    f1, per_label = macro_f1(pairs)
    return HoldoutResult(
        n=n,
        accuracy=sum(e == p for e, p in pairs) / n,
        accuracy_without_fallback=sum(e == p for e, p in raw_pairs) / n,
        fallback_rate=sum(p == FALLBACK_INTENT for _, p in pairs) / n,
        macro_f1=f1,
        per_intent={k: (v[0], v[1], v[2], int(v[3])) for k, v in per_label.items()},
        confusions=confusion_pairs(pairs),
        errors=errors,
        entities=entities,
    )


def _score_entities(
    example: HoldoutExample, predicted: Sequence[dict[str, Any]], scores: dict[str, EntityScore]
) -> None:
    by_value = list(predicted)
    by_span = list(predicted)
    for expected in example.entities:
        score = scores.setdefault(expected.entity, EntityScore())
        score.expected += 1
        match = next(
            (
                p
                for p in by_value
                if p.get("entity") == expected.entity
                and same_value(expected.entity, p.get("value"), expected.value)
            ),
            None,
        )
        if match is not None:
            score.value_hits += 1
            by_value.remove(match)
        else:
            got = [str(p.get("value")) for p in predicted if p.get("entity") == expected.entity]
            score.misses.append(f"{example.text!r}: {expected.value} <- {got}")
        span = next(
            (
                p
                for p in by_span
                if p.get("entity") == expected.entity
                and example.text[int(p.get("start", -1)) : int(p.get("end", -1))] == expected.text
            ),
            None,
        )
        if span is not None:
            score.span_hits += 1
            by_span.remove(span)


def parse_all(model: Path, texts: Sequence[str]) -> list[dict[str, Any]]:
    """Parse every text with the trained model (Rasa's Agent)."""
    from rasa.core.agent import Agent
    from rasa.utils.common import configure_logging_and_warnings
    from rasa.utils.log_utils import configure_structlog

    configure_logging_and_warnings(logging.WARNING)
    configure_structlog(logging.WARNING)  # unconfigured structlog prints every parse
    agent = Agent.load(str(model))

    async def run() -> list[dict[str, Any]]:
        return [await agent.parse_message(text) for text in texts]

    return asyncio.run(run())


# ----------------------------------------------------------------------------- cross-validation


@dataclass
class CrossValidation:
    folds: int
    intent_accuracy: float
    intent_macro_f1: float
    intent_weighted_f1: float
    entities: dict[str, dict[str, tuple[float, float, float, int]]]
    confusions: list[tuple[str, str, int]]


def cross_validate(config: Path, nlu: Path, domain: Path, folds: int) -> CrossValidation:
    """Run ``rasa test nlu --cross-validation`` and read its JSON reports."""
    rasa = Path(sys.executable).with_name("rasa")
    with tempfile.TemporaryDirectory(prefix="nlu-cv-") as out:
        command = [
            str(rasa) if rasa.exists() else "rasa",
            "test",
            "nlu",
            "--cross-validation",
            "--folds",
            str(folds),
            "--config",
            str(config),
            "--nlu",
            str(nlu),
            "--domain",
            str(domain),
            "--out",
            out,
            "--no-plot",
            "--quiet",
        ]
        print(f"cross-validation: {' '.join(command)}", file=sys.stderr, flush=True)
        log_path = Path(out) / "rasa.log"
        with log_path.open("w", encoding="utf-8") as log:  # Rasa's output, kept off stdout
            completed = subprocess.run(  # noqa: S603
                command, cwd=REPO, check=False, stdout=log, stderr=subprocess.STDOUT
            )
        if completed.returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]
            print("\n".join(tail), file=sys.stderr)
            raise CrossValidationError(f"rasa test nlu exited with {completed.returncode}")
        return _read_cv_reports(Path(out), folds)


def _read_cv_reports(out: Path, folds: int) -> CrossValidation:
    intent_report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    entities: dict[str, dict[str, tuple[float, float, float, int]]] = {}
    for report_path in sorted(out.glob("*_report.json")):
        extractor = report_path.name.removesuffix("_report.json")
        if extractor in {"intent", "response_selection"}:
            continue
        report = json.loads(report_path.read_text(encoding="utf-8"))
        entities[extractor] = {
            label: (
                float(m["precision"]),
                float(m["recall"]),
                float(m["f1-score"]),
                int(m["support"]),
            )
            for label, m in report.items()
            if isinstance(m, dict) and "f1-score" in m
        }
    errors_path = out / "intent_errors.json"
    if errors_path.exists():
        errors = json.loads(errors_path.read_text(encoding="utf-8"))
        confusions = confusion_pairs(
            (str(e["intent"]), str((e.get("intent_prediction") or {}).get("name"))) for e in errors
        )
    else:  # fall back on the (top-3 per intent) "confused_with" of the report
        confusions = sorted(
            (
                (label, other, int(count))
                for label, m in intent_report.items()
                if isinstance(m, dict)
                for other, count in (m.get("confused_with") or {}).items()
            ),
            key=lambda c: -c[2],
        )
    return CrossValidation(
        folds=folds,
        intent_accuracy=float(intent_report["accuracy"]),
        intent_macro_f1=float(intent_report["macro avg"]["f1-score"]),
        intent_weighted_f1=float(intent_report["weighted avg"]["f1-score"]),
        entities=entities,
        confusions=confusions,
    )


# ----------------------------------------------------------------------------- printing


def print_cv(cv: CrossValidation, top: int) -> None:
    print(f"\n== Cross-validation on training data ({cv.folds} folds, Rasa reports) ==")
    print(f"intent accuracy      {cv.intent_accuracy:.3f}")
    print(f"intent macro F1      {cv.intent_macro_f1:.3f}")
    print(f"intent weighted F1   {cv.intent_weighted_f1:.3f}")
    for extractor, labels in cv.entities.items():
        print(f"entities ({extractor}):  {'precision':>9} {'recall':>7} {'f1':>6} {'n':>5}")
        for label, (p, r, f1, n) in labels.items():
            print(f"  {label:<20}{p:>9.3f} {r:>7.3f} {f1:>6.3f} {n:>5}")
    print_confusions(cv.confusions, top)


def print_holdout(path: Path, today: dt.date, result: HoldoutResult, top: int) -> None:
    print(f"\n== Held-out set {path} ({result.n} messages, today = {today}) ==")
    print(f"intent accuracy            {result.accuracy:.3f}")
    print(f"  ignoring nlu_fallback    {result.accuracy_without_fallback:.3f}")
    print(f"  fallback rate            {result.fallback_rate:.3f}")
    print(f"intent macro F1            {result.macro_f1:.3f}")
    print(f"\n{'intent':<26}{'precision':>9} {'recall':>7} {'f1':>6} {'n':>4}")
    for label, (p, r, f1, n) in result.per_intent.items():
        print(f"{label:<26}{p:>9.3f} {r:>7.3f} {f1:>6.3f} {n:>4}")
    print_confusions(result.confusions, top)
    print(f"\n{'entity':<10}{'expected':>9} {'value acc':>10} {'span acc':>9}")
    for name, score in result.entities.items():
        print(
            f"{name:<10}{score.expected:>9} {score.value_accuracy:>10.3f} "
            f"{score.span_accuracy:>9.3f}"
        )
    if result.errors:
        print(f"\nintent errors (first {top}):")
        for text, expected, predicted, confidence in result.errors[:top]:
            print(f"  {expected} -> {predicted} ({confidence:.2f}): {text}")
    for name, score in result.entities.items():
        if score.misses:
            print(f"\n{name} value misses (first {top}):")
            for miss in score.misses[:top]:
                print(f"  {miss}")


def print_confusions(confusions: Sequence[tuple[str, str, int]], top: int) -> None:
    print(f"\ntop confusion pairs (expected -> predicted, count), first {top}:")
    if not confusions:
        print("  none")
    for expected, predicted, count in confusions[:top]:
        print(f"  {expected:<26} -> {predicted:<26} {count:>3}")


# ----------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--model", type=Path, default=REPO / "models" / "cobranza.tar.gz")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--holdout", type=Path, default=REPO / "tests" / "nlu" / "holdout.yml")
    parser.add_argument("--config", type=Path, default=REPO / "config.yml")
    parser.add_argument("--nlu", type=Path, default=REPO / "data" / "nlu")
    parser.add_argument("--domain", type=Path, default=REPO / "domain.yml")
    parser.add_argument("--skip-cv", action="store_true", help="no cross-validation")
    parser.add_argument("--skip-holdout", action="store_true", help="no held-out evaluation")
    parser.add_argument("--top", type=int, default=10, help="confusion pairs and errors shown")
    parser.add_argument("--fail-under-intent", type=float, default=None, metavar="ACCURACY")
    parser.add_argument("--fail-under-entity", type=float, default=None, metavar="ACCURACY")
    parser.add_argument(
        "--write-rasa-nlu",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the held-out set in Rasa NLU format (for rasa test nlu --nlu)",
    )
    args = parser.parse_args(argv)
    if args.folds < 2:
        parser.error("--folds must be at least 2")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING)
    failures: list[str] = []

    holdout: Holdout | None = None
    if not args.skip_holdout or args.write_rasa_nlu:
        try:
            holdout = load_holdout(args.holdout)
        except HoldoutError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        if args.write_rasa_nlu:
            write_rasa_nlu(holdout, args.write_rasa_nlu)
            print(f"wrote {args.write_rasa_nlu}", file=sys.stderr)

    if not args.skip_cv:
        missing = [p for p in (args.config, args.nlu, args.domain) if not p.exists()]
        if missing:  # Rasa would silently fall back on its defaults
            print(f"error: not found: {', '.join(map(str, missing))}", file=sys.stderr)
            return 2
        try:
            cv = cross_validate(args.config, args.nlu, args.domain, args.folds)
        except CrossValidationError as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        print_cv(cv, args.top)

    if not args.skip_holdout and holdout is not None:
        if not args.model.exists():
            print(f"error: no model at {args.model}", file=sys.stderr)
            return 2
        # The entity normaliser reads "today" from this variable (relative dates).
        os.environ[TODAY_VARIABLE] = holdout.today.isoformat()
        parses = parse_all(args.model, [e.text for e in holdout.examples])
        result = score_holdout(holdout, parses)
        print_holdout(args.holdout, holdout.today, result, args.top)
        if args.fail_under_intent is not None and result.accuracy < args.fail_under_intent:
            failures.append(f"intent accuracy {result.accuracy:.3f} < {args.fail_under_intent}")
        if args.fail_under_entity is not None:
            for name in ENTITY_TYPES:
                score = result.entities.get(name)
                accuracy = score.value_accuracy if score else 0.0
                if accuracy < args.fail_under_entity:
                    failures.append(
                        f"{name} entity accuracy {accuracy:.3f} < {args.fail_under_entity}"
                    )

    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
