"""`make eval-conversations`: the whole conversations of tests/conversations/*.yml against the real
servers (REST and WhatsApp, on a fresh demo database as of today); prints PASS/FAIL per
conversation with the reasons and the transcript of each failure, then the share that reached
the right outcome, per flow, channel and persona. ``--floor 0.9`` exits 1 below 90%."""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

from cobranza.config import PROJECT_ROOT
from cobranza.testing.conversations import (
    CONVERSATIONS_DIR,
    ConversationFileError,
    Evaluation,
    Result,
    load_conversations,
)


def share(results: list[Result]) -> str:
    passed = sum(r.passed for r in results)
    return f"{passed}/{len(results)} ({100 * passed / len(results):.1f}%)"


def breakdown(title: str, results: list[Result], key: str) -> None:
    groups: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        value = result.persona if key == "persona" else getattr(result.conversation, key)
        groups[str(value or "unknown number")].append(result)
    print(f"  {title}: " + ", ".join(f"{k} {share(v)}" for k, v in sorted(groups.items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--floor", type=float, help="exit 1 when the share passed is below this")
    parser.add_argument("--dir", type=Path, default=CONVERSATIONS_DIR, help="conversation files")
    parser.add_argument("--only", nargs="*", default=[], help="conversation ids or flows to run")
    parser.add_argument("--quiet", action="store_true", help="no transcripts of failures")
    parser.add_argument("--transcripts", action="store_true", help="every transcript, passed too")
    args = parser.parse_args()
    try:
        conversations = load_conversations(args.dir)
    except ConversationFileError as exc:
        print("invalid conversation files:", *exc.problems, sep="\n  ", file=sys.stderr)
        return 2
    if args.only:
        conversations = [c for c in conversations if c.id in args.only or c.flow in args.only]
        if not conversations:
            print(f"no conversation matches {' '.join(args.only)}", file=sys.stderr)
            return 2
    model = PROJECT_ROOT / "models" / "cobranza.tar.gz"
    started = time.monotonic()
    results: list[Result] = []
    with Evaluation(model) as evaluation:
        ready = time.monotonic() - started
        print(f"servers ready in {ready:.0f} s; {len(conversations)} conversations")
        for conversation in conversations:
            result = evaluation.run(conversation)
            results.append(result)
            where = f"{conversation.flow}/{conversation.id} ({conversation.channel})"
            if result.passed:
                print(f"PASS {where}")
                if args.transcripts:
                    print(result.transcript_text())
                continue
            print(f"FAIL {where}")
            for failure in result.failures:
                print(f"  - {failure}")
            if not args.quiet:
                print(result.transcript_text())
    elapsed = time.monotonic() - started
    passed = sum(r.passed for r in results)
    print(
        f"\n{passed}/{len(results)} conversations reached the right outcome "
        f"({100 * passed / len(results):.1f}%) in {elapsed:.0f} s"
    )
    breakdown("per flow", results, "flow")
    breakdown("per channel", results, "channel")
    breakdown("per persona", results, "persona")
    failed = [r.conversation.id for r in results if not r.passed]
    if failed:
        print("  failed: " + ", ".join(failed))
    if args.floor is not None and passed / len(results) < args.floor:
        print(f"below the floor of {100 * args.floor:.1f}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
