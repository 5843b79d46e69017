"""The load driver's counting (cobranza/testing/whatsapp_load/counts.py): which reply answers which
message, and what counts as missing, duplicated, reprocessed, a promise lost or duplicated.
The bench and the cluster test trust these numbers, so each is made to go wrong here once."""

from __future__ import annotations

from pathlib import Path

from cobranza.channels.whatsapp import config as whatsapp_config
from cobranza.testing.whatsapp_load import checks
from cobranza.testing.whatsapp_load.checks import lock_errors
from cobranza.testing.whatsapp_load.counts import (
    SentRecord,
    TurnRecord,
    attribute,
    percentile,
    tally,
)
from cobranza.testing.whatsapp_load.debtors import CONFIRM_TURN, PROMISE_CONFIRMED

ANA, BETO = "5215500000001", "5215500000002"


def turn(wa_id: str, index: int, posted: float, *, accepted: bool = True) -> TurnRecord:
    return TurnRecord(
        wa_id,
        index,
        f"wamid.{wa_id}.{index}",
        "hola",
        posted=posted,
        deliveries=1,
        statuses=[200 if accepted else 502],
        accepted=accepted,
        outcome="done" if accepted else "",
    )


def reply(to: str, text: str, arrived: float, wamid: str = "") -> SentRecord:
    payload = {"to": to, "type": "text", "text": {"body": text}}
    return SentRecord(to, wamid or f"wamid.out.{to}.{arrived}", arrived, payload)


def conversation(wa_id: str, start: float) -> tuple[list[TurnRecord], list[SentRecord]]:
    """Two turns, the second one confirming a promise, each answered 0.5 s later."""
    turns = [turn(wa_id, CONFIRM_TURN - 1, start), turn(wa_id, CONFIRM_TURN, start + 1)]
    sent = [
        reply(wa_id, "¿Confirmas $500.00 mañana?", start + 0.5),
        reply(wa_id, f"{PROMISE_CONFIRMED} $500.00 para mañana", start + 1.5),
    ]
    return turns, sent


def test_a_clean_load_counts_every_message_answered_once() -> None:
    turns, sent = conversation(ANA, 10.0)
    more_turns, more_sent = conversation(BETO, 10.2)
    result = tally(
        turns + more_turns,
        sent + more_sent + [reply("5215599999999", "not ours", 11.0)],
        debtors=2,
        planned=4,
        processed={t.message_id: 1 for t in turns + more_turns},
        promises={ANA: 1, BETO: 1},
    )
    assert (result.accepted, result.answered, result.missing, result.duplicates) == (4, 4, 0, 0)
    assert result.replies == 4 and result.promised == 2
    assert result.problems() == []
    assert result.exactly_once
    assert result.transcripts == {} and result.details() == ""
    assert [round(s, 3) for s in sorted(result.latencies)] == [0.5] * 4
    assert round(result.elapsed, 3) == 1.7  # first POST (10.0) to last reply (11.7)
    assert round(result.throughput, 2) == round(4 / 1.7, 2)


def test_a_reply_sent_twice_is_a_duplicate() -> None:
    turns, sent = conversation(ANA, 10.0)
    again = reply(ANA, sent[0].text, 10.7)  # the first turn's answer, once more
    result = tally(turns, [*sent, again], debtors=1, planned=2)
    assert result.duplicates == 1
    assert not result.exactly_once
    assert "duplicate replies: 1" in result.problems()
    assert list(result.transcripts) == [ANA]
    story = result.details()
    assert story.startswith(f"debtor {ANA}:") and story.count("¿Confirmas $500.00 mañana?") == 2


def test_a_message_without_reply_is_missing_and_a_refused_one_not_accepted() -> None:
    turns, sent = conversation(ANA, 10.0)
    refused = turn(BETO, 0, 10.0, accepted=False)
    silent = turn(BETO, 1, 12.0)
    result = tally([*turns, refused, silent], sent[:1], debtors=2, planned=4)
    # ANA's confirmation never came: that message is missing, and so is BETO's second.
    assert (result.accepted, result.answered, result.missing) == (3, 1, 2)
    assert result.not_accepted == 1 and result.statuses == {"200": 3, "502": 1}
    assert result.promised == 0
    assert "accepted messages without an answer: 2" in result.problems()


def test_the_assistants_link_wins_over_the_time_of_arrival() -> None:
    """A reply arriving after the debtor's next message still answers the message it was
    recorded for; without the link, time would give it to the next one."""
    first, second = turn(ANA, 0, 10.0), turn(ANA, 1, 11.0)
    late = reply(ANA, "late answer to the first", 11.5, wamid="wamid.late")
    on_time = reply(ANA, "answer to the second", 11.6)
    by_time, _ = attribute([first, second], [late, on_time], {})
    assert [r.text for r in by_time[first.message_id]] == []
    linked, _ = attribute([first, second], [late, on_time], {"wamid.late": first.message_id})
    assert [r.text for r in linked[first.message_id]] == ["late answer to the first"]
    assert [r.text for r in linked[second.message_id]] == ["answer to the second"]


def test_a_reply_before_any_message_of_the_debtor_is_unattributed() -> None:
    turns, sent = conversation(ANA, 10.0)
    result = tally(turns, [reply(ANA, "outreach", 5.0), *sent], debtors=1, planned=2)
    assert result.unattributed == 1 and result.replies == 2


def test_promises_lost_duplicated_or_unconfirmed_are_counted() -> None:
    turns, sent = conversation(ANA, 10.0)
    beto_turns, beto_sent = conversation(BETO, 10.0)
    both = (turns + beto_turns, sent + beto_sent)
    lost = tally(*both, debtors=2, planned=4, promises={BETO: 1})
    assert (lost.promises_lost, lost.promises_duplicated) == (1, 0)
    twice = tally(*both, debtors=2, planned=4, promises={ANA: 2, BETO: 1})
    assert (twice.promises_lost, twice.promises_duplicated) == (0, 1)
    assert "promises duplicated: 1" in twice.problems()
    unconfirmed = tally(turns + beto_turns, sent + beto_sent[:1], debtors=2, planned=4)
    assert unconfirmed.promised == 1
    stored = tally(
        turns + beto_turns, sent + beto_sent[:1], debtors=2, planned=4, promises={ANA: 1, BETO: 1}
    )
    assert stored.promises_unconfirmed == 1


def test_a_conversation_answered_once_throughout_but_without_a_promise_is_derailed() -> None:
    """Every message answered once, but the assistant asked for the date of birth again: no
    guarantee broken (nothing lost, nothing twice), the conversation went astray."""
    turns, sent = conversation(ANA, 10.0)
    astray = [sent[0], reply(ANA, "¿Cuál es tu fecha de nacimiento?", 11.5)]
    result = tally(turns, astray, debtors=1, planned=2, promises={})
    assert (result.derailed, result.promised, result.missing) == (1, 0, 0)
    assert result.problems() == []
    assert ANA in result.transcripts and "conversations derailed 1" in "\n".join(result.lines())
    lost = tally(turns, sent[:1], debtors=1, planned=2, promises={})
    assert lost.derailed == 0
    assert "debtors without a promise, a message lost on the way: 1" in lost.problems()


def test_which_debtors_are_derailed_and_which_get_a_transcript() -> None:
    """Derailed: every message answered once, no promise, the script past the confirming turn
    (how the turn ended does not matter). A transcript: any debtor with a message refused,
    unanswered, answered twice or whose turn was not over, without a confirmed promise, or
    whose promise rows are not the one it confirmed."""
    carla, dora, eva = "5215500000003", "5215500000004", "5215500000005"
    conversations = {w: conversation(w, 10.0 + n) for n, w in enumerate((ANA, BETO, carla, dora))}
    turns = [t for w in conversations for t in conversations[w][0]]
    sent = [s for w in conversations for s in conversations[w][1]]
    astray = "¿Cuál es tu fecha de nacimiento?"
    sent = [
        reply(s.to, astray, s.arrived) if s.to in (ANA, BETO) and PROMISE_CONFIRMED in s.text else s
        for s in sent
    ]
    turns[1].outcome = "timeout"  # ANA's confirming turn, answered but not over in time
    turns[4].outcome = "timeout"  # carla's first: her promise is confirmed and stored once
    turns += [turn(eva, 0, 20.0)]  # stopped before the confirming turn, answered
    sent += [reply(eva, "Hola", 20.5)]
    result = tally(turns, sent, debtors=5, planned=9, promises={carla: 1, dora: 2})
    assert result.derailed == 2  # ANA and BETO; not eva (the script had not got that far)
    assert sorted(result.transcripts) == sorted([ANA, BETO, carla, dora, eva])


def test_a_message_in_the_tracker_twice_or_never_is_counted() -> None:
    turns, sent = conversation(ANA, 10.0)
    result = tally(
        turns, sent, debtors=1, planned=2, processed={turns[0].message_id: 2}, promises={ANA: 1}
    )
    assert (result.reprocessed, result.unprocessed) == (1, 1)
    assert not result.exactly_once


def test_the_message_id_key_is_the_channels() -> None:
    assert checks.MESSAGE_ID_KEY == whatsapp_config.MESSAGE_ID_KEY


def test_the_confirmation_marker_is_the_fixed_start_of_the_response() -> None:
    assert PROMISE_CONFIRMED.startswith("¡Gracias! Registré tu promesa")
    assert "{" not in PROMISE_CONFIRMED


def test_lock_errors_are_found_in_the_logs(tmp_path: Path) -> None:
    log = tmp_path / "rasa-0.log"
    log.write_text(
        "INFO all good\n"
        "ERROR rasa.core.lock_store - LockError: Could not acquire lock for conversation\n"
        "ERROR cobranza - lease of 521***5678 taken by another replica: its turn stops here\n"
        "ERROR psycopg2.errors.DeadlockDetected: deadlock detected\n"
        "INFO the word unlocked is no error\n",
        encoding="utf-8",
    )
    found = lock_errors([log, tmp_path / "missing.log"])
    assert len(found) == 3 and all(line.startswith("rasa-0.log: ") for line in found)


def test_percentile_is_the_nearest_rank() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([float(n) for n in range(1, 101)], 95) == 95.0
